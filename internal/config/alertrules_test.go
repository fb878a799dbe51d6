package config

import (
	"errors"
	"strings"
	"testing"
)

func TestAlertRulesAndRequestLogValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // a substring of the one problem's path and message; "" for none
	}{
		{"off by default", "", ""},
		{"every channel", `alert_rules:
  - name: errors
    kind: error_rate
    threshold: 0.05
    window: 5m
    for: 2m
    min_events: 20
    no_data: keep
    where: {model: demo}
    group_by: [model, provider]
    notify:
      - {type: webhook, url: "https://hooks.example.com/a", secret: s}
      - {type: slack, url: "https://hooks.slack.com/services/x"}
      - {type: pagerduty, routing_key: k}
  - {name: slow, kind: latency_p95, threshold: 2000}
  - {name: down, kind: all_targets_down}
`, ""},
		{"the budget webhook still loads beside them", "alerts: {webhook_url: \"https://x/y\"}\nalert_rules: [{name: a, kind: spend_rate, threshold: 10}]\n", ""},
		{"unknown kind", "alert_rules: [{name: a, kind: cpu}]\n", "alert_rules[0].kind: one of"},
		{"bad name", "alert_rules: [{name: \"a b\", kind: error_rate}]\n", "alert_rules[0].name"},
		{"duplicate name", "alert_rules: [{name: a, kind: error_rate}, {name: a, kind: ttft_p95}]\n", "alert_rules[1].name: duplicate"},
		{"negative threshold", "alert_rules: [{name: a, kind: error_rate, threshold: -1}]\n", "alert_rules[0].threshold"},
		{"window in seconds", "alert_rules: [{name: a, kind: error_rate, window: 90s}]\n", "alert_rules[0].window: whole minutes"},
		{"window over a day", "alert_rules: [{name: a, kind: error_rate, window: 25h}]\n", "alert_rules[0].window"},
		{"negative for", "alert_rules: [{name: a, kind: error_rate, for: -1m}]\n", "alert_rules[0].for"},
		{"negative min events", "alert_rules: [{name: a, kind: error_rate, min_events: -1}]\n", "alert_rules[0].min_events"},
		{"bad no data", "alert_rules: [{name: a, kind: error_rate, no_data: maybe}]\n", "alert_rules[0].no_data"},
		{"bad filter", "alert_rules: [{name: a, kind: error_rate, where: {ts: x}}]\n", "alert_rules[0].where.ts"},
		{"bad group", "alert_rules: [{name: a, kind: error_rate, group_by: [ts]}]\n", "alert_rules[0].group_by[0]"},
		{"webhook without url", "alert_rules: [{name: a, kind: error_rate, notify: [{type: webhook}]}]\n", "alert_rules[0].notify[0].url: required"},
		{"pagerduty without key", "alert_rules: [{name: a, kind: error_rate, notify: [{type: pagerduty}]}]\n", "notify[0].routing_key"},
		{"unknown channel", "alert_rules: [{name: a, kind: error_rate, notify: [{type: email, url: \"https://x\"}]}]\n", "notify[0].type"},
		{"url with user", "alert_rules: [{name: a, kind: error_rate, notify: [{type: slack, url: \"https://u:p@x\"}]}]\n", "notify[0].url: must be"},
		{"header with newline", "alert_rules: [{name: a, kind: error_rate, notify: [{type: slack, url: \"https://x\", headers: {a: \"b\\nc\"}}]}]\n", "notify[0].headers"},
		{"request log", "request_log:\n  capture: [{org_id: o1}, {key: dev, product: p}]\n  max_body_bytes: 4096\n  ttl: 24h\n", ""},
		{"empty capture scope", "request_log: {capture: [{}]}\n", "request_log.capture[0]"},
		{"body cap too big", "request_log: {max_body_bytes: 2000000}\n", "request_log.max_body_bytes"},
		{"negative ttl", "request_log: {ttl: -1h}\n", "request_log.ttl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(observed+tc.yaml), nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want no problem, got %v", err)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) || len(ps) != 1 {
				t.Fatalf("want one problem %q, got %v", tc.want, err)
			}
			if got := ps[0].Path + ": " + ps[0].Msg; !strings.Contains(got, tc.want) {
				t.Fatalf("problem %q, want %q", got, tc.want)
			}
		})
	}
}
