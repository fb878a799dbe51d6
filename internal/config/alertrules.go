package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Alert rule kinds: what a rule measures over its window.
const (
	AlertErrorRate         = "error_rate"         // errors / requests (0..1)
	AlertLatencyP95        = "latency_p95"        // milliseconds
	AlertTTFTP95           = "ttft_p95"           // milliseconds
	AlertSpendRate         = "spend_rate"         // US dollars per hour over the window
	AlertDeprecatedTraffic = "deprecated_traffic" // requests matching where (a deprecated version)
	AlertTargetEjected     = "target_ejected"     // upstream targets ejected (per model)
	AlertAllTargetsDown    = "all_targets_down"   // models with no healthy target (1 or 0 per model)
)

// AlertKinds lists the rule kinds.
var AlertKinds = []string{AlertErrorRate, AlertLatencyP95, AlertTTFTP95, AlertSpendRate, AlertDeprecatedTraffic,
	AlertTargetEjected, AlertAllTargetsDown}

// No-data modes: what a rule does when its window holds fewer than
// min_events requests.
const (
	NoDataOK       = "ok"       // the condition is false (default)
	NoDataKeep     = "keep"     // the state stays as it is
	NoDataAlerting = "alerting" // the condition is true
)

// Alert channel types.
const (
	ChannelWebhook   = "webhook"   // JSON POST signed with X-Sluice-Signature
	ChannelSlack     = "slack"     // Slack-compatible incoming webhook ({"text": ...})
	ChannelPagerDuty = "pagerduty" // PagerDuty Events API v2
)

// AlertRule is a rule over the analytics (or over upstream health) that
// moves through ok -> pending -> firing -> resolved and notifies its
// channels when it fires and when it resolves.
type AlertRule struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"`
	// Threshold: the condition is value > threshold (ms for latencies, a
	// fraction for error_rate, USD per hour for spend_rate, requests for
	// deprecated_traffic, targets for target_ejected; 0 for
	// all_targets_down).
	Threshold float64 `yaml:"threshold"`
	// Window is how far back the value is computed (default 5m, whole
	// minutes); For is how long the condition must hold before the rule
	// fires (default 0: at once).
	Window Duration `yaml:"window"`
	For    Duration `yaml:"for"`
	// MinEvents is the fewest requests in the window for the value to
	// count (default 1); below it the window has no data.
	MinEvents int64 `yaml:"min_events"`
	// NoData is ok (default), keep or alerting.
	NoData string `yaml:"no_data"`
	// Where narrows the requests: keys model, provider, product,
	// product_version, prompt, prompt_version, status, org_id, team_id,
	// app_id, key_id.
	Where map[string]string `yaml:"where"`
	// GroupBy gives each group its own state (for example [model]).
	GroupBy []string `yaml:"group_by"`
	// Notify lists where transitions go.
	Notify []AlertChannel `yaml:"notify"`
}

// AlertChannel is one destination of a rule's notifications.
type AlertChannel struct {
	Type string `yaml:"type"`
	// URL of the webhook or Slack incoming webhook; for PagerDuty the
	// Events API (default https://events.pagerduty.com/v2/enqueue).
	URL string `yaml:"url"`
	// Secret signs webhook bodies (HMAC-SHA256, X-Sluice-Signature).
	Secret string `yaml:"secret"`
	// RoutingKey is PagerDuty's integration key.
	RoutingKey string `yaml:"routing_key"`
	// Headers are sent with each notification.
	Headers map[string]string `yaml:"headers"`
}

// AlertWhereKeys are the filters a rule's where may name.
var AlertWhereKeys = []string{"model", "provider", "product", "product_version", "prompt", "prompt_version", "status",
	"org_id", "team_id", "app_id", "key_id"}

// AlertGroupKeys are the dimensions a rule may group by.
var AlertGroupKeys = []string{"model", "provider", "key", "application", "team", "organisation", "product",
	"product_version", "prompt", "prompt_version", "status"}

// validateAlertRules checks alert_rules.
func (f *File) validateAlertRules(add adder) {
	names := map[string]bool{}
	for i, r := range f.AlertRules {
		ValidateAlertRule(fmt.Sprintf("alert_rules[%d]", i), r, add)
		if names[r.Name] {
			add(fmt.Sprintf("alert_rules[%d].name", i), "duplicate rule name %q", r.Name)
		}
		names[r.Name] = true
	}
}

// ValidateAlertRule checks one rule (from the file or the admin API).
func ValidateAlertRule(at string, r AlertRule, add adder) {
	if !validName(r.Name) {
		add(at+".name", "must be 1-64 characters of letters, digits, '-', '_' or '.'")
	}
	if !slices.Contains(AlertKinds, r.Kind) {
		add(at+".kind", "one of %s", strings.Join(AlertKinds, ", "))
	}
	if r.Threshold < 0 {
		add(at+".threshold", "must not be negative")
	}
	if r.Window < 0 || (r.Window != 0 && (int64(r.Window)%int64(60e9) != 0 || r.Window > Duration(24*3600e9))) {
		add(at+".window", "whole minutes, at most 24h")
	}
	if r.For < 0 {
		add(at+".for", "must not be negative")
	}
	if r.MinEvents < 0 {
		add(at+".min_events", "must not be negative")
	}
	switch r.NoData {
	case "", NoDataOK, NoDataKeep, NoDataAlerting:
	default:
		add(at+".no_data", "one of ok, keep, alerting")
	}
	for k := range r.Where {
		if !slices.Contains(AlertWhereKeys, k) {
			add(at+".where."+k, "not a filter; one of %s", strings.Join(AlertWhereKeys, ", "))
		}
	}
	for j, g := range r.GroupBy {
		if !slices.Contains(AlertGroupKeys, g) {
			add(fmt.Sprintf("%s.group_by[%d]", at, j), "one of %s", strings.Join(AlertGroupKeys, ", "))
		}
	}
	for j, c := range r.Notify {
		cat := fmt.Sprintf("%s.notify[%d]", at, j)
		switch c.Type {
		case ChannelWebhook, ChannelSlack:
			if c.URL == "" {
				add(cat+".url", "required for type %s", c.Type)
			}
		case ChannelPagerDuty:
			if c.RoutingKey == "" {
				add(cat+".routing_key", "required for type pagerduty")
			}
		default:
			add(cat+".type", "one of webhook, slack, pagerduty")
		}
		if c.URL != "" {
			if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
				add(cat+".url", "must be an absolute http:// or https:// URL without user info")
			}
		}
		for k, v := range c.Headers {
			if strings.ContainsAny(k+v, "\r\n\x00") {
				add(cat+".headers", "must not contain control characters")
			}
		}
	}
}
