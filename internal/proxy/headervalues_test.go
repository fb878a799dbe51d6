package proxy

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
)

// TestHeaderValuesAreTheCallsOwn: the values of X-Request-Id,
// X-Sluice-Route, Content-Length and x-ratelimit-* live in the request's own storage. A
// response's header map, kept after its request ended, still says what it
// said when it was written after later requests (of another model, with
// fewer requests left), and each value is a capped one-element slice, so
// that an append cannot write into a neighbour.
func TestHeaderValuesAreTheCallsOwn(t *testing.T) {
	e := newEnv(t, func(f *config.File) { f.Keys[0].Limits = config.Limits{RPM: 50, TPM: 1e6} })
	mux := http.NewServeMux()
	e.h.Register(mux)
	fields := []string{"X-Request-Id", "X-Sluice-Route", "Content-Length", "X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests",
		"X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens"}
	type answer struct {
		hdr  http.Header
		seen map[string]string // the values as the request ended
	}
	var answers []answer
	for _, tc := range []struct {
		model     string
		prompt    string // answers of different lengths
		wantRoute string // prefix of X-Sluice-Route
	}{
		{"chat-small", "hi", "chat-small:"},
		{"other", "a much longer question, so that the answer is longer too", "other:"},
		{"chat-small", "why", "chat-small:"},
	} {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions",
			strings.NewReader(`{"model":"`+tc.model+`","messages":[{"role":"user","content":"`+tc.prompt+`"}]}`))
		req.Header.Set("Authorization", "Bearer "+clientKey)
		req.Header.Set("Content-Type", "application/json")
		rr := httptest.NewRecorder()
		mux.ServeHTTP(rr, req)
		if rr.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.model, rr.Code, rr.Body)
		}
		a := answer{hdr: rr.Header(), seen: map[string]string{}}
		for _, k := range fields {
			v := a.hdr[k]
			if len(v) != 1 || v[0] == "" || cap(v) != 1 {
				t.Fatalf("%s: %s is %q (cap %d), want one value in a capped slice", tc.model, k, v, cap(v))
			}
			a.seen[k] = v[0]
		}
		if want := strconv.Itoa(rr.Body.Len()); a.seen["Content-Length"] != want {
			t.Errorf("%s: Content-Length %q, want %s", tc.model, a.seen["Content-Length"], want)
		}
		if !strings.HasPrefix(a.seen["X-Sluice-Route"], tc.wantRoute) {
			t.Errorf("%s: X-Sluice-Route %q, want %s...", tc.model, a.seen["X-Sluice-Route"], tc.wantRoute)
		}
		answers = append(answers, a)
	}
	ids := map[string]bool{}
	for i, a := range answers {
		for _, k := range fields {
			if got := a.hdr.Get(k); got != a.seen[k] {
				t.Errorf("answer %d: %s became %q after later requests, was %q", i, k, got, a.seen[k])
			}
		}
		if ids[a.seen["X-Request-Id"]] {
			t.Errorf("answer %d: request id %q given twice", i, a.seen["X-Request-Id"])
		}
		ids[a.seen["X-Request-Id"]] = true
	}
	if answers[0].seen["Content-Length"] == answers[1].seen["Content-Length"] {
		t.Errorf("the answers are of one length (%s): the test cannot tell them apart", answers[0].seen["Content-Length"])
	}
	if answers[0].seen["X-Ratelimit-Remaining-Requests"] == answers[2].seen["X-Ratelimit-Remaining-Requests"] {
		t.Errorf("the remaining requests did not change: %q", answers[0].seen["X-Ratelimit-Remaining-Requests"])
	}
}
