package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The chain runs the ADR's steps in the ADR's order (other steps may sit
// between them), and ends with route_and_attempt.
func TestChainOrder(t *testing.T) {
	var names []string
	for _, s := range New(Options{}).steps() {
		names = append(names, s.Name())
	}
	want := []string{"requestid", "settle_and_record", "authenticate", "resolve", "admit", "guard_input", "cache_lookup", "route_and_attempt"}
	at := -1
	for _, w := range want {
		i := slices.Index(names, w)
		if i <= at {
			t.Fatalf("steps %v: %s missing or out of the order %v", names, w, want)
		}
		at = i
	}
	if names[len(names)-1] != "route_and_attempt" {
		t.Fatalf("steps %v do not end with route_and_attempt", names)
	}
}

// A step added to the list reads the call's state, sets response headers,
// wraps the writer and refuses in the client's dialect; a prefix serves the
// same ingresses through the same chain.
func TestChainStepAndPrefix(t *testing.T) {
	e := newEnvWith(t, func(o *Options) { o.Codecs = dialectCodecs() })
	var seen []string
	wrapped := 0
	extra := stepFunc{"product", func(ctx context.Context, c *Call, next Next) error {
		seen = append(seen, c.key.Name+"/"+c.fs.model.Name+"/"+c.r.PathValue("product"))
		c.w.Header().Set("X-Product", c.r.PathValue("product"))
		if c.r.PathValue("product") == "closed" {
			return &Error{Status: http.StatusForbidden, Type: "permission_error", Code: "no_subscription", Msg: "No subscription to this product."}
		}
		c.w = countingWriter{c.w, &wrapped}
		return next(ctx, c)
	}}
	steps := e.h.steps()
	steps = slices.DeleteFunc(steps, func(s Step) bool { return s.Name() == "product" }) // the real one (products.go) gives way to this one
	i := slices.IndexFunc(steps, func(s Step) bool { return s.Name() == "resolve" })
	e.h.chain = compose(slices.Insert(steps, i+1, Step(extra)))
	mux := http.NewServeMux()
	for _, rt := range e.h.under("/products/{product}/{version}") {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		name, path, body string
		hdr              map[string]string
		want             int
		wantBody         string
	}{
		{"openai", "/products/shop/v1/v1/chat/completions", `{"model":"chat-small","messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"Authorization": "Bearer " + clientKey}, 200, `"chat.completion"`},
		{"anthropic refused", "/products/closed/v1/v1/messages", `{"model":"chat-small","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"x-api-key": clientKey, "anthropic-version": "2023-06-01"}, 403, `"type":"error"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen, wrapped = nil, 0
			req, _ := http.NewRequest(http.MethodPost, srv.URL+tc.path, strings.NewReader(tc.body))
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != tc.want || !strings.Contains(body, tc.wantBody) {
				t.Fatalf("status %d body %s, want %d with %s", resp.StatusCode, body, tc.want, tc.wantBody)
			}
			product := strings.Split(tc.path, "/")[2]
			if resp.Header.Get("X-Product") != product || len(seen) != 1 || seen[0] != "dev/chat-small/"+product {
				t.Fatalf("header %q, step saw %v", resp.Header.Get("X-Product"), seen)
			}
			if (tc.want == 200) != (wrapped > 0) {
				t.Fatalf("the wrapped writer saw %d writes", wrapped)
			}
		})
	}
}

type countingWriter struct {
	http.ResponseWriter
	n *int
}

func (w countingWriter) Write(p []byte) (int, error) { *w.n++; return w.ResponseWriter.Write(p) }
func (w countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestRequestIDs: a request id is the process's prefix and the request
// counter plus 2^40, in base 36.
func TestRequestIDs(t *testing.T) {
	for range 3 {
		before := idCounter.Load()
		id := newRequestID()
		after := idCounter.Load()
		rest, ok := strings.CutPrefix(id, idPrefix)
		if !ok || len(idPrefix) != len("req_")+12 {
			t.Fatalf("id %q does not start with the prefix %q", id, idPrefix)
		}
		n, err := strconv.ParseUint(rest, 36, 64)
		if err != nil || n < before+1+1<<40 || n > after+1<<40 {
			t.Fatalf("id %q: %d (%v), want the counter (%d to %d) plus 2^40 in base 36", id, n, err, before+1, after)
		}
	}
}
