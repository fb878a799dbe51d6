package admin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// TestAlertRulesAPI: rules are validated, stored with their secrets
// hidden from reads, audited, and deleted; the request log is searched
// within the caller's scope.
func TestAlertRulesAPI(t *testing.T) {
	w := newWorld(t)
	rule := `{"name":"errors","kind":"error_rate","threshold":0.05,"window":"5m","for":"1m","group_by":["model"],
 "notify":[{"type":"webhook","url":"https://hooks.example.com/x","secret":"whsec-CANARY"},{"type":"pagerduty","routing_key":"pd-CANARY"}]}`
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"created", rule, 201, `"secret": "(set)"`},
		{"name taken", rule, 409, "name_taken"},
		{"unknown kind", `{"name":"x","kind":"cpu"}`, 400, "rule.kind"},
		{"bad window", `{"name":"x","kind":"error_rate","window":"90s"}`, 400, "rule.window"},
		{"unparsable for", `{"name":"x","kind":"error_rate","for":"soon"}`, 400, "invalid_for"},
		{"unknown field", `{"name":"x","kind":"error_rate","severity":"p1"}`, 400, "invalid_body"},
		{"id is not the caller's", `{"id":"alr_1","name":"x","kind":"error_rate"}`, 400, "invalid_body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.as("super", "POST", "/admin/v1/alert-rules", tc.body)
			if r.code != tc.code || !strings.Contains(r.raw, tc.want) {
				t.Fatalf("%d %s; want %d with %q", r.code, r.raw, tc.code, tc.want)
			}
		})
	}
	list := w.must(w.as("super", "GET", "/admin/v1/alert-rules", ""), 200, "list")
	if strings.Contains(list.raw, "CANARY") || !strings.Contains(list.raw, `"window": "5m0s"`) {
		t.Fatalf("list: %s", list.raw)
	}
	if r := w.as("ownerA", "GET", "/admin/v1/alert-rules", ""); r.code != 403 {
		t.Fatalf("an organisation owner reads platform alert rules: %d", r.code)
	}
	w.must(w.as("super", "GET", "/admin/v1/alerts", ""), 200, "alerts")
	w.must(w.as("super", "DELETE", "/admin/v1/alert-rules/errors", ""), 200, "delete")
	w.must(w.as("super", "DELETE", "/admin/v1/alert-rules/errors", ""), 404, "delete again")
	audit, err := w.e.st.ListAudit(context.Background(), store.AuditFilter{ObjectType: "alert_rule"})
	if err != nil || len(audit) != 2 || strings.Contains(string(audit[1].After), "CANARY") {
		t.Fatalf("audit %+v, %v", audit, err)
	}

	// A channel disabled after failed deliveries is switched back on.
	if err := w.e.st.DisableAlertChannel(context.Background(), "errors:0", "8 failures", time.Now(), store.AuditEntry{Actor: "system:alerts",
		Action: "alert_channel.disable", ObjectType: "alert_channel", ObjectID: "errors:0"}); err != nil {
		t.Fatal(err)
	}
	w.must(w.as("super", "POST", "/admin/v1/alert-channels/errors:0/enable", ""), 200, "enable")
	if off, err := w.e.st.DisabledAlertChannels(context.Background()); err != nil || len(off) != 0 {
		t.Fatalf("still disabled: %v, %v", off, err)
	}

	// The request log.
	now := time.Now().UTC()
	for _, x := range []string{"A", "B"} {
		if err := w.e.st.InsertCapture(context.Background(), store.Capture{RequestID: "cap-" + x, Time: now, OrgID: w.ids["org"+x],
			TeamID: w.ids["team"+x], AppID: w.ids["app"+x], KeyID: w.ids["key"+x], Model: "m", Status: "ok", HTTPStatus: 200,
			RequestBody: "{}", ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	r := w.must(w.as("ownerA", "GET", "/admin/v1/request-log?org_id="+w.ids["orgA"], ""), 200, "request log")
	if !strings.Contains(r.raw, "cap-A") || strings.Contains(r.raw, "cap-B") {
		t.Fatalf("owner of A sees %s", r.raw)
	}
	if r := w.as("ownerA", "GET", "/admin/v1/request-log?request_id=cap-B&org_id="+w.ids["orgA"], ""); r.code != 200 || strings.Contains(r.raw, "cap-B") {
		t.Fatalf("another tenant's capture by id: %d %s", r.code, r.raw)
	}
	if r := w.as("ownerA", "GET", "/admin/v1/request-log?org_id="+w.ids["orgB"], ""); r.code != 404 {
		t.Fatalf("another tenant's request log: %d", r.code)
	}
}
