package e2e

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// leakCheck is an http.RoundTripper that looks for the provider key and the admin
// token in every response header and body byte the client receives.
type leakCheck struct {
	base    http.RoundTripper
	secrets []string

	mu    sync.Mutex // guards leaks
	leaks []string
}

func newLeakCheck(t *testing.T) *leakCheck {
	l := &leakCheck{base: http.DefaultTransport, secrets: []string{provKey, adminToken, awsSecret}}
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, leak := range l.leaks {
			t.Errorf("secret leaked to the client: %s", leak)
		}
	})
	return l
}

func (l *leakCheck) record(what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leaks = append(l.leaks, what)
}

func (l *leakCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	for name, values := range resp.Header {
		for _, v := range values {
			for _, s := range l.secrets {
				if strings.Contains(v, s) {
					l.record(req.URL.Path + ": header " + name)
				}
			}
		}
	}
	resp.Body = &scanBody{ReadCloser: resp.Body, l: l, path: req.URL.Path}
	return resp, nil
}

// scanBody scans a body as it is read, across read boundaries.
type scanBody struct {
	io.ReadCloser
	l    *leakCheck
	path string
	tail []byte
}

func (b *scanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		window := append(b.tail, p[:n]...)
		for _, s := range b.l.secrets {
			if bytes.Contains(window, []byte(s)) {
				b.l.record(b.path + ": body")
			}
		}
		keep := 64
		if len(window) > keep {
			window = window[len(window)-keep:]
		}
		b.tail = append([]byte(nil), window...)
	}
	return n, err
}

// sdk returns an official OpenAI Go client for the gateway g with key, without
// retries, with every response checked for leaked secrets.
func sdk(t *testing.T, g *gateway, key string, opts ...option.RequestOption) *openai.Client {
	base := []option.RequestOption{
		option.WithBaseURL(g.URL + "/v1"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(30 * time.Second),
		option.WithHTTPClient(&http.Client{Transport: newLeakCheck(t)}),
	}
	c := openai.NewClient(append(base, opts...)...)
	return &c
}

// captureBody records the exact body the SDK sends.
func captureBody(dst *[]byte) option.RequestOption {
	return option.WithMiddleware(func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		if req.GetBody != nil {
			if rc, err := req.GetBody(); err == nil {
				*dst, _ = io.ReadAll(rc)
				rc.Close()
			}
		}
		return next(req)
	})
}

// raw sends a request with a plain HTTP client (leak-checked). headers may set the
// credential; body may be nil.
func raw(t *testing.T, g *gateway, method, path string, body []byte, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, g.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	client := &http.Client{Transport: newLeakCheck(t), Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, out
}

// upstreamBody is what the upstream should receive for a client body: the same
// bytes with the model name replaced.
func upstreamBody(clientBody []byte, from, to string) []byte {
	return bytes.Replace(clientBody, []byte(`"model":"`+from+`"`), []byte(`"model":"`+to+`"`), 1)
}

func bearer(key string) map[string]string { return map[string]string{"Authorization": "Bearer " + key} }
