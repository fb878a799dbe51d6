package load

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/sluicehq/sluice/bench/internal/fakeopenai"
)

func TestBodySizes(t *testing.T) {
	d := NewOpenAI("m", 3)
	for i := range bodyVariants {
		if n := len(d.Call(i).Body); n < 1024 || n > 4096+200 {
			t.Errorf("body %d is %d bytes, want 1–4 KiB", i, n)
		}
	}
}

func TestPercentile(t *testing.T) {
	var xs []time.Duration
	for i := 1; i <= 100; i++ {
		xs = append(xs, time.Duration(i))
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {0, 1}}
	for _, tc := range tests {
		if got := Percentile(xs, tc.p); got != tc.want {
			t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("Percentile(nil) = %v", got)
	}
}

// TestRunners drives both runners against the fake, directly and through a
// proxy that rewrites the model in responses (which must be caught).
func TestRunners(t *testing.T) {
	up := httptest.NewServer(fakeopenai.NewServer(fakeopenai.Options{Chunks: 5, Gap: time.Millisecond}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	rewrite := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		ModifyResponse: rewriteModel,
	})
	defer rewrite.Close()
	d := NewOpenAI("m", 5)
	ctx := context.Background()

	direct := Target{Name: "direct", BaseURL: up.URL, Dialect: d}
	cr := Closed(ctx, direct, ClosedOptions{Conns: 2, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond})
	if cr.Requests == 0 || cr.Errors != 0 || cr.Exact != cr.Requests {
		t.Fatalf("direct closed: %+v", cr)
	}
	sr := Streams(ctx, direct, StreamOptions{Streams: 20, Ramp: 20 * time.Millisecond, Timeout: 5 * time.Second, Nonce: "t"})
	if sr.OK != 20 || sr.TTFEP50 <= 0 {
		t.Fatalf("direct streams: %+v", sr)
	}

	bad := Target{Name: "rewrite", BaseURL: rewrite.URL, Dialect: d}
	sr = Streams(ctx, bad, StreamOptions{Streams: 5, Timeout: 5 * time.Second, Nonce: "t"})
	if sr.OK != 0 || sr.Mismatch != 5 || sr.FirstProblem == "" {
		t.Fatalf("rewritten streams: %+v", sr)
	}
}

func rewriteModel(resp *http.Response) error {
	resp.Body = &replacer{r: resp.Body}
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	return nil
}

type replacer struct{ r io.ReadCloser }

// Read overwrites the start of the model name where a read holds it whole.
func (x *replacer) Read(p []byte) (int, error) {
	n, err := x.r.Read(p)
	if i := bytes.Index(p[:n], []byte(fakeopenai.Model)); i >= 0 {
		copy(p[i:], "FAKE")
	}
	return n, err
}

func (x *replacer) Close() error { return x.r.Close() }

// TestProbe checks that the probe measures, and that it counts a stream
// that never sends a complete event as failed.
func TestProbe(t *testing.T) {
	up := httptest.NewServer(fakeopenai.NewServer(fakeopenai.Options{Chunks: 50, Gap: time.Second}))
	defer up.Close()
	noEvent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "data: {}") // no blank line: never a complete event
	}))
	defer noEvent.Close()
	d := NewOpenAI("m", 1)
	one := http.Header{"X-Fake-Chunks": {"1"}}
	ctx := context.Background()

	start := time.Now()
	r := Probe(ctx, Target{Name: "direct", BaseURL: up.URL, Dialect: d}, ProbeOptions{Streams: 20, Warmup: 2, Header: one, Timeout: 5 * time.Second})
	if r.Streams != 20 || r.Failed != 0 || r.TTFEP50 <= 0 || r.TTFEP99 < r.TTFEP50 {
		t.Fatalf("probe: %+v", r)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("X-Fake-Chunks: 1 was not applied (took %s)", time.Since(start))
	}
	r = Probe(ctx, Target{Name: "bad", BaseURL: noEvent.URL, Dialect: d}, ProbeOptions{Streams: 3, Timeout: 5 * time.Second})
	if r.Streams != 0 || r.Failed != 3 || r.FirstProblem == "" {
		t.Fatalf("probe of a server without events: %+v", r)
	}
}
