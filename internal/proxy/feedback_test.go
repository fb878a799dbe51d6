package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
)

// memFeedback is a FeedbackStore in memory: ledger rows by request id,
// and feedback rows with their idempotency keys.
type memFeedback struct {
	metrics []config.FeedbackMetric

	mu     sync.Mutex // guards owners, rows
	owners map[string]owner
	rows   []Feedback
}

func (m *memFeedback) Metric(name string) (config.FeedbackMetric, bool) {
	for _, fm := range m.metrics {
		if fm.Name == name {
			return fm, true
		}
	}
	return config.FeedbackMetric{}, false
}

func (m *memFeedback) RequestOwner(_ context.Context, id string) (string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.owners[id]
	if !ok {
		return "", "", ErrUnknownRequest
	}
	return o.keyID, o.appID, nil
}

func (m *memFeedback) AddFeedback(_ context.Context, f Feedback) (Feedback, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.rows {
		if f.IdempotencyKey != "" && r.KeyID == f.KeyID && r.IdempotencyKey == f.IdempotencyKey {
			return r, false, nil
		}
	}
	f.ID, f.Time = fmt.Sprintf("fb_%d", len(m.rows)+1), time.Now()
	m.rows = append(m.rows, f)
	return f, true, nil
}

func (m *memFeedback) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rows)
}

const (
	appKeyA = "gw-test-feedback-app-a-01"
	appKeyB = "gw-test-feedback-app-b-02"
)

// TestFeedback drives POST /v1/sluice/feedback: declared metrics and
// their types, the request's own key or application, idempotency.
func TestFeedback(t *testing.T) {
	lo, hi := 0.0, 5.0
	fs := &memFeedback{metrics: []config.FeedbackMetric{
		{Name: "helpful", Type: config.FeedbackBoolean},
		{Name: "score", Type: config.FeedbackFloat, Min: &lo, Max: &hi},
		{Name: "mood", Type: config.FeedbackCategory, Values: []string{"good", "bad"}},
	}}
	saved := ledgerWait
	ledgerWait = 50 * time.Millisecond
	t.Cleanup(func() { ledgerWait = saved })
	e := newEnvWith(t, func(o *Options) { o.Feedback = fs }, func(f *config.File) {
		f.Orgs = []config.Org{{Name: "acme", Teams: []config.Team{{Name: "search", Applications: []config.App{{Name: "web"}}}}}}
		f.Keys = append(f.Keys, config.Key{Name: "app-a", Key: appKeyA, Application: "acme/search/web"},
			config.Key{Name: "app-b", Key: appKeyB, Application: "acme/search/web"})
	})
	// Requests that feedback is about: one by the plain key (known to this
	// process only), one by an application's key (known to the ledger
	// only, as if another node had served it).
	resp := e.post(t, "/v1/chat/completions", `{"model":"chat-small","messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"Authorization": "Bearer " + clientKey})
	readAll(t, resp)
	mine := resp.Header.Get("X-Request-Id")
	e.waitEntries(t, 1)
	fs.mu.Lock()
	fs.owners = map[string]owner{"req_other_node": {keyID: "key-of-app-a", appID: "app_web"}}
	fs.mu.Unlock()

	tests := []struct {
		name   string
		key    string
		idem   string
		body   string
		status int
		code   string // the error code, or "" for success
		value  any    // the value answered on success
	}{
		{"boolean", clientKey, "", `{"request_id":%q,"metric":"helpful","value":true}`, 201, "", true},
		{"float with comment", clientKey, "", `{"request_id":%q,"metric":"score","value":4.5,"comment":"good answer"}`, 201, "", 4.5},
		{"category", clientKey, "", `{"request_id":%q,"metric":"mood","value":"bad"}`, 201, "", "bad"},
		{"undeclared metric", clientKey, "", `{"request_id":%q,"metric":"nope","value":true}`, 400, "unknown_metric", nil},
		{"boolean given a string", clientKey, "", `{"request_id":%q,"metric":"helpful","value":"yes"}`, 400, "invalid_value", nil},
		{"float given a string", clientKey, "", `{"request_id":%q,"metric":"score","value":"4"}`, 400, "invalid_value", nil},
		{"float above max", clientKey, "", `{"request_id":%q,"metric":"score","value":5.5}`, 400, "invalid_value", nil},
		{"float below min", clientKey, "", `{"request_id":%q,"metric":"score","value":-1}`, 400, "invalid_value", nil},
		{"category not declared", clientKey, "", `{"request_id":%q,"metric":"mood","value":"meh"}`, 400, "invalid_value", nil},
		{"missing value", clientKey, "", `{"request_id":%q,"metric":"helpful"}`, 400, "invalid_value", nil},
		{"unknown field", clientKey, "", `{"request_id":%q,"metric":"helpful","value":true,"extra":1}`, 400, "invalid_json", nil},
		{"no request id", clientKey, "", `{"request_id":"%.0s","metric":"helpful","value":true}`, 400, "invalid_request_id", nil},
		{"unknown request id", clientKey, "", `{"request_id":"req_nowhere%.0s","metric":"helpful","value":true}`, 404, "unknown_request_id", nil},
		{"another key's request, neither in an application", limitedKey, "", `{"request_id":%q,"metric":"helpful","value":true}`, 404, "unknown_request_id", nil},
		{"another key's request", appKeyA, "", `{"request_id":%q,"metric":"helpful","value":true}`, 404, "unknown_request_id", nil},
		{"same application, other key", appKeyB, "", `{"request_id":"req_other_node%.0s","metric":"helpful","value":false}`, 201, "", false},
		{"no key", "", "", `{"request_id":%q,"metric":"helpful","value":true}`, 401, "invalid_api_key", nil},
		{"idempotent first", clientKey, "retry-1", `{"request_id":%q,"metric":"helpful","value":false}`, 201, "", false},
		{"idempotent replay", clientKey, "retry-1", `{"request_id":%q,"metric":"helpful","value":false}`, 200, "", false},
		{"idempotency key reused", clientKey, "retry-1", `{"request_id":%q,"metric":"helpful","value":true}`, 409, "idempotency_key_reused", nil},
	}
	var firstID string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.key != "" {
				hdr["Authorization"] = "Bearer " + tc.key
			}
			if tc.idem != "" {
				hdr["Idempotency-Key"] = tc.idem
			}
			before := fs.count()
			resp := e.post(t, "/v1/sluice/feedback", fmt.Sprintf(tc.body, mine), hdr)
			body := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			var out struct {
				ID    string `json:"id"`
				Value any    `json:"value"`
				Error *struct {
					Type string `json:"type"`
					Code string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatalf("answer is not JSON: %s", body)
			}
			if tc.code != "" {
				if out.Error == nil || out.Error.Code != tc.code || out.Error.Type == "" {
					t.Fatalf("error %s, want code %s in the OpenAI shape", body, tc.code)
				}
				if fs.count() != before {
					t.Fatal("a refused feedback was stored")
				}
				return
			}
			if out.Value != tc.value || out.ID == "" {
				t.Fatalf("answer %s, want value %v", body, tc.value)
			}
			switch tc.name {
			case "idempotent first":
				firstID = out.ID
			case "idempotent replay":
				if out.ID != firstID || fs.count() != before {
					t.Fatalf("replay answered %s and stored %d rows; want the first row %s and none", out.ID, fs.count()-before, firstID)
				}
			}
		})
	}
}

// TestFeedbackDisabled: without a store the route exists, authenticates,
// and answers 404 in the OpenAI shape.
func TestFeedbackDisabled(t *testing.T) {
	e := newEnv(t)
	resp := e.post(t, "/v1/sluice/feedback", `{"request_id":"x","metric":"helpful","value":true}`,
		map[string]string{"Authorization": "Bearer " + clientKey})
	if body := readAll(t, resp); resp.StatusCode != 404 || !json.Valid([]byte(body)) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestRecentOwnersBounded(t *testing.T) {
	var r recentOwners
	for i := range recentRequests + 10 {
		r.put(fmt.Sprint(i), owner{keyID: "k"})
	}
	if _, ok := r.get("0"); ok {
		t.Fatal("the oldest request was kept past the bound")
	}
	if _, ok := r.get(fmt.Sprint(recentRequests + 9)); !ok {
		t.Fatal("the newest request was forgotten")
	}
	if len(r.byID) != recentRequests {
		t.Fatalf("%d owners kept, want %d", len(r.byID), recentRequests)
	}
}
