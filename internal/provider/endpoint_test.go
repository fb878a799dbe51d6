package provider

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// TestEndpointRequest: a request from an Endpoint is the request
// http.NewRequestWithContext builds from the same URL and body, and owns
// its URL.
func TestEndpointRequest(t *testing.T) {
	ctx := context.WithValue(context.Background(), connectKey{}, 7)
	for _, raw := range []string{
		"https://api.example/v1/chat/completions",
		"http://user:pw@127.0.0.1:8080/v1/embeddings?api-version=1",
		"http://host.example:/v1/responses", // an empty port, dropped from Host
		"https://[::1]:443/x",
		"http://bad host/v1", // refused as by NewRequest
		"://nothing",
	} {
		for _, body := range [][]byte{[]byte(`{"model":"m"}`), {}, nil} {
			want, werr := http.NewRequestWithContext(ctx, http.MethodPost, raw, bytes.NewReader(body))
			e := NewEndpoint(raw)
			got, gerr := e.NewRequest(ctx, body)
			if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
				t.Fatalf("%s: error %v, want %v", raw, gerr, werr)
			}
			if werr != nil {
				continue
			}
			if got.URL.String() != want.URL.String() || got.Host != want.Host || got.Method != want.Method ||
				got.ContentLength != want.ContentLength || got.Context() != ctx || (got.GetBody == nil) != (want.GetBody == nil) ||
				(got.Body == http.NoBody) != (want.Body == http.NoBody) || len(got.Header) != 0 {
				t.Fatalf("%s: request %+v, want %+v", raw, got, want)
			}
			for _, r := range []*http.Request{got, want} {
				if r.GetBody == nil {
					continue
				}
				b, err := r.GetBody()
				if err != nil {
					t.Fatal(err)
				}
				if sent, _ := io.ReadAll(b); !bytes.Equal(sent, body) {
					t.Fatalf("%s: GetBody gives %q, want %q", raw, sent, body)
				}
			}
			// Each request owns its URL: a change to one is not the
			// next one's.
			got.URL.Path = "/changed"
			if next, _ := e.NewRequest(ctx, body); next.URL.String() != want.URL.String() {
				t.Fatalf("%s: the next request went to %s", raw, next.URL)
			}
		}
	}
}

// TestCopyHeader: the copy canonicalises names, drops credentials, merges
// names that canonicalise alike, and shares nothing with src or between
// its values.
func TestCopyHeader(t *testing.T) {
	src := http.Header{
		"X-Trace": {"a", "b"}, "x-trace": {"c"}, "User-Agent": {"ua"}, "Empty": {},
		"Authorization": {"Bearer secret"}, "x-api-key": {"secret"}, "Cookie": {"c=1"},
	}
	dst := http.Header{}
	CopyHeader(dst, src)
	if len(dst["X-Trace"]) != 3 || dst.Get("User-Agent") != "ua" {
		t.Fatalf("copy %q", dst)
	}
	for _, k := range []string{"Authorization", "X-Api-Key", "Cookie"} {
		if _, ok := dst[k]; ok {
			t.Errorf("credential %s copied", k)
		}
	}
	if v, ok := dst["Empty"]; !ok || len(v) != 0 {
		t.Errorf("Empty: %q, %v", v, ok)
	}
	// Appending to one copied value must not reach another's.
	snapshot := map[string][]string{}
	for k, vs := range dst {
		snapshot[k] = append([]string(nil), vs...)
	}
	for k := range dst {
		dst[k] = append(dst[k], "appended")
	}
	for k, vs := range snapshot {
		for i, v := range vs {
			if dst[k][i] != v {
				t.Fatalf("an append reached %s: %q, was %q", k, dst[k], vs)
			}
		}
	}
	dst["X-Trace"][0] = "changed"
	if src["X-Trace"][0] != "a" || src["x-trace"][0] != "c" {
		t.Fatalf("the copy shares its values with src: %q", src)
	}
}

type ctxKey string

// TestWithConnectTimeout: the context carries the connect deadline and is
// otherwise its parent: values, deadline, cancellation and cause; and
// contexts made from it are linked to the parent without a goroutine each.
func TestWithConnectTimeout(t *testing.T) {
	parent, cancel := context.WithCancelCause(context.WithValue(context.Background(), ctxKey("k"), "v"))
	parent, stop := context.WithTimeout(parent, time.Hour)
	defer stop()
	ctx := WithConnectTimeout(parent, 3*time.Second)
	if got := ConnectTimeout(ctx, time.Second); got != 3*time.Second {
		t.Fatalf("connect timeout %s", got)
	}
	if got := ConnectTimeout(parent, time.Second); got != time.Second {
		t.Fatalf("the parent's connect timeout %s, want the default", got)
	}
	if ctx.Value(ctxKey("k")) != "v" {
		t.Fatal("the parent's value is lost")
	}
	d1, ok1 := ctx.Deadline()
	d2, ok2 := parent.Deadline()
	if !d1.Equal(d2) || ok1 != ok2 {
		t.Fatal("the deadline differs from the parent's")
	}
	before := runtime.NumGoroutine()
	children := make([]context.CancelFunc, 100)
	for i := range children {
		_, children[i] = context.WithCancel(ctx)
	}
	if n := runtime.NumGoroutine() - before; n > 10 {
		t.Fatalf("%d goroutines started for 100 child contexts", n)
	}
	for _, c := range children {
		c()
	}
	cause := errors.New("client gone")
	cancel(cause)
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Fatal("not cancelled with its parent")
	}
	if !errors.Is(ctx.Err(), context.Canceled) || context.Cause(ctx) != cause {
		t.Fatalf("err %v, cause %v", ctx.Err(), context.Cause(ctx))
	}
}
