package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
)

func TestErrorsAreTypedForTheSDK(t *testing.T) {
	g := sharedGateway(t)
	hello := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}
	huge := []openai.ChatCompletionMessageParamUnion{openai.UserMessage(strings.Repeat("x", 11<<20))}
	cases := []struct {
		name       string
		key        string
		model      string
		messages   []openai.ChatCompletionMessageParamUnion
		opts       []option.RequestOption
		wantStatus int
		upstream   bool   // whether the request must reach the upstream
		ledger     string // the ledger status to expect ("a|b": either); "" = don't check the ledger
	}{
		{name: "wrong key", key: "gw-test-wrong-key", model: "chat-small", messages: hello, wantStatus: 401},
		{name: "model outside allow-list", key: devKey, model: "chat-other", messages: hello, wantStatus: 403, ledger: "client_error"},
		{name: "unknown model", key: devKey, model: "no-such-model", messages: hello, wantStatus: 404, ledger: "client_error"},
		{name: "malformed JSON", key: devKey, model: "chat-small", messages: hello, wantStatus: 400, ledger: "client_error",
			opts: []option.RequestOption{option.WithRequestBody("application/json", []byte(`{"model":"chat-small","messages":[`))}},
		{name: "body over 10 MiB", key: devKey, model: "chat-small", messages: huge, wantStatus: 413},
		{name: "upstream 429", key: devKey, model: "chat-small", messages: hello, wantStatus: 429, upstream: true, ledger: "upstream_error",
			opts: []option.RequestOption{option.WithHeader(openaifake.HeaderStatus, "429"), option.WithHeader(openaifake.HeaderRetryAfter, "7")}},
		{name: "upstream 500", key: devKey, model: "chat-small", messages: hello, wantStatus: 500, upstream: true, ledger: "upstream_error",
			opts: []option.RequestOption{option.WithHeader(openaifake.HeaderStatus, "500")}},
		// An upstream 4xx other than 429 blames the client's request: either status is fair.
		{name: "upstream 400", key: devKey, model: "chat-small", messages: hello, wantStatus: 400, upstream: true, ledger: "client_error|upstream_error",
			opts: []option.RequestOption{option.WithHeader(openaifake.HeaderStatus, "400")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			marker, match := withMarker()
			opts := append([]option.RequestOption{option.WithHeader("X-E2e-Marker", marker)}, tc.opts...)
			_, err := sdk(t, g, tc.key).Chat.Completions.New(ctxTimeout(t, 30*time.Second), openai.ChatCompletionNewParams{
				Model: tc.model, Messages: tc.messages,
			}, opts...)
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v (%T), want *openai.Error with status %d", err, err, tc.wantStatus)
			}
			if apiErr.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d (%s)", apiErr.StatusCode, tc.wantStatus, apiErr.RawJSON())
			}
			if apiErr.Message == "" || apiErr.Type == "" {
				t.Errorf("error is not OpenAI-shaped: %s", apiErr.RawJSON())
			}
			id := apiErr.Response.Header.Get("X-Request-Id")
			if id == "" {
				t.Error("error response has no x-request-id")
			}
			if tc.upstream {
				fakeRequest(t, "the request", match)
				if tc.wantStatus == 429 {
					if got := apiErr.Response.Header.Get("Retry-After"); got != "7" {
						t.Logf("note: upstream Retry-After not passed through (got %q)", got)
					}
					if !strings.Contains(apiErr.Message, "Rate limit") {
						t.Errorf("upstream error message not passed through: %s", apiErr.RawJSON())
					}
				}
			} else {
				time.Sleep(100 * time.Millisecond)
				if _, ok := fake.WaitRequest(0, match); ok {
					t.Error("a request rejected by the gateway reached the upstream")
				}
			}
			if tc.ledger != "" && id != "" {
				e := g.entryByID(t, id)
				if !slices.Contains(strings.Split(tc.ledger, "|"), e.Status) || e.HTTPStatus != tc.wantStatus || e.KeyName != "dev" || e.CostMicros != 0 {
					raw, _ := json.Marshal(e)
					t.Errorf("ledger entry %s, want status %s/%d, key dev, cost 0", raw, tc.ledger, tc.wantStatus)
				}
			}
		})
	}
}

func TestCredentialHeaders(t *testing.T) {
	g := sharedGateway(t)
	body := []byte(`{"model":"chat-small","messages":[{"role":"user","content":"which header"}]}`)
	cases := []struct {
		name       string
		headers    map[string]string
		wantStatus int
	}{
		{"authorization bearer", map[string]string{"Authorization": "Bearer " + devKey}, 200},
		{"api-key", map[string]string{"api-key": devKey}, 200},
		{"x-api-key", map[string]string{"x-api-key": devKey}, 200},
		{"none", map[string]string{}, 401},
		{"wrong bearer", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"wrong api-key", map[string]string{"api-key": "nope"}, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			marker, match := withMarker()
			tc.headers["X-E2e-Marker"] = marker
			tc.headers["Cookie"] = "session=" + devKey
			resp, out := raw(t, g, http.MethodPost, "/v1/chat/completions", body, tc.headers)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, out)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("no x-request-id")
			}
			if tc.wantStatus != 200 {
				var env struct {
					Error struct {
						Message string  `json:"message"`
						Type    string  `json:"type"`
						Param   *string `json:"param"`
						Code    any     `json:"code"`
					} `json:"error"`
				}
				if err := json.Unmarshal(out, &env); err != nil || env.Error.Message == "" || env.Error.Type == "" {
					t.Errorf("error body not OpenAI-shaped: %s", out)
				}
				return
			}
			r := fakeRequest(t, "the request", match)
			checkUpstream(t, r, body, "chat-small", "fake-model-1")
			for _, h := range []string{"Api-Key", "X-Api-Key", "Cookie"} {
				if v := r.Header.Get(h); v != "" {
					t.Errorf("credential header %s reached the upstream", h)
				}
			}
		})
	}
}

func TestRequestIDEverywhere(t *testing.T) {
	g := sharedGateway(t)
	cases := []struct {
		method, path string
		headers      map[string]string
	}{
		{http.MethodGet, "/healthz", nil},
		{http.MethodGet, "/v1/models", bearer(devKey)},
		{http.MethodGet, "/v1/models", nil},
		{http.MethodGet, "/no/such/path", nil},
		{http.MethodGet, "/admin/v1/requests?limit=1", bearer(adminToken)},
		{http.MethodGet, "/admin/v1/requests?limit=1", bearer(devKey)},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		resp, _ := raw(t, g, tc.method, tc.path, nil, tc.headers)
		id := resp.Header.Get("X-Request-Id")
		if id == "" {
			t.Errorf("%s %s (%d): no x-request-id", tc.method, tc.path, resp.StatusCode)
		}
		if seen[id] {
			t.Errorf("x-request-id %q repeated", id)
		}
		seen[id] = true
		if strings.HasPrefix(tc.path, "/admin") && tc.headers["Authorization"] == "Bearer "+devKey && resp.StatusCode != 401 && resp.StatusCode != 403 {
			t.Errorf("admin API with a data-plane key: status %d, want 401/403", resp.StatusCode)
		}
	}
}
