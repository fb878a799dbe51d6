package provider

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// TestSenderMatchesClient sends the same answers through a direct Sender
// and through http.Client.Do with the same client: the caller must see
// the same response or the same error either way.
func TestSenderMatchesClient(t *testing.T) {
	// answer answers status with body ("nil": no Body) on each call.
	answer := func(status int, hdr map[string]string, body string, cl int64) func(*http.Request) (*http.Response, error) {
		return func(r *http.Request) (*http.Response, error) {
			h := http.Header{}
			for k, v := range hdr {
				h.Set(k, v)
			}
			resp := &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h, ContentLength: cl, Request: r}
			if body != "nil" {
				resp.Body = io.NopCloser(strings.NewReader(body))
			}
			return resp, nil
		}
	}
	fail := func(err error) func(*http.Request) (*http.Response, error) {
		return func(*http.Request) (*http.Response, error) { return nil, err }
	}
	var tlsErr tls.RecordHeaderError
	copy(tlsErr.RecordHeader[:], "HTTP/")
	for _, tc := range []struct {
		name string
		rt   func(*http.Request) (*http.Response, error)
	}{
		{"ok", answer(200, nil, "{}", 2)},
		{"error answer", answer(429, map[string]string{"Retry-After": "1"}, "no", 2)},
		{"redirect returned as is", answer(302, map[string]string{"Location": "https://elsewhere.example/v1"}, "", 0)},
		{"307 returned as is", answer(307, map[string]string{"Location": "/v2/chat"}, "", 0)},
		{"redirect without location", answer(301, nil, "", 0)},
		{"redirect with a bad location", answer(308, map[string]string{"Location": "http://[::1/%zz"}, "", 0)},
		{"nil body", answer(200, nil, "nil", 0)},
		{"nil body with a length", answer(200, nil, "nil", 5)},
		{"nil response", func(*http.Request) (*http.Response, error) { return nil, nil }},
		{"deadline", fail(context.DeadlineExceeded)},
		{"refused", fail(errors.New("dial tcp 10.0.0.1:443: connect: connection refused"))},
		{"https to http", fail(tlsErr)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &http.Client{Transport: roundTripFunc(tc.rt), CheckRedirect: noRedirects}
			s := NewSender(c)
			if !s.Direct() {
				t.Fatal("a client that returns redirects is not called directly")
			}
			do := func(send func(*http.Request) (*http.Response, error)) (string, error) {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "https://api.example/v1/chat/completions", strings.NewReader(`{"model":"m"}`))
				resp, err := send(req)
				if err != nil {
					return "", err
				}
				defer resp.Body.Close()
				b, rerr := io.ReadAll(resp.Body)
				if rerr != nil {
					t.Fatal(rerr)
				}
				return resp.Status + "|" + resp.Header.Get("Location") + "|" + resp.Header.Get("Retry-After") + "|" + string(b), nil
			}
			want, wantErr := do(c.Do)
			got, gotErr := do(s.Do)
			if got != want || (wantErr == nil) != (gotErr == nil) {
				t.Fatalf("Sender: %q, %v; Client.Do: %q, %v", got, gotErr, want, wantErr)
			}
			if wantErr == nil {
				return
			}
			if gotErr.Error() != wantErr.Error() {
				t.Errorf("Sender error %q, Client.Do error %q", gotErr, wantErr)
			}
			for _, target := range []error{context.DeadlineExceeded, http.ErrSchemeMismatch} {
				if errors.Is(gotErr, target) != errors.Is(wantErr, target) {
					t.Errorf("errors.Is(%v, %v): Sender %v, Client.Do %v", gotErr, target, errors.Is(gotErr, target), errors.Is(wantErr, target))
				}
			}
		})
	}
}

// TestSenderUsesClient checks that only a client that would return every
// redirect unfollowed, with no jar and no timeout, is bypassed, and that a
// request whose URL carries credentials still gets Client.Do's basic
// authentication.
func TestSenderUsesClient(t *testing.T) {
	jar, _ := cookiejar.New(nil)
	follow := func(*http.Request, []*http.Request) error { return nil }
	for _, tc := range []struct {
		name   string
		client *http.Client
		direct bool
	}{
		{"returns redirects", &http.Client{CheckRedirect: noRedirects}, true},
		{"default redirect policy", &http.Client{}, false},
		{"follows redirects", &http.Client{CheckRedirect: follow}, false},
		{"cookie jar", &http.Client{CheckRedirect: noRedirects, Jar: jar}, false},
		{"client timeout", &http.Client{CheckRedirect: noRedirects, Timeout: time.Minute}, false},
		{"nil client", nil, false},
	} {
		if got := NewSender(tc.client).Direct(); got != tc.direct {
			t.Errorf("%s: direct %v, want %v", tc.name, got, tc.direct)
		}
	}

	// A client that follows redirects still follows them.
	hops := 0
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		hops++
		if r.URL.Path == "/v1" {
			return &http.Response{StatusCode: 307, Header: http.Header{"Location": {"/v2"}}, Body: http.NoBody, Request: r}, nil
		}
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})
	req, _ := http.NewRequest(http.MethodPost, "http://up.example/v1", strings.NewReader("{}"))
	resp, err := NewSender(&http.Client{Transport: rt}).Do(req)
	if err != nil || resp.StatusCode != 200 || hops != 2 {
		t.Fatalf("following client: %v, %v after %d hops", resp, err, hops)
	}

	// Credentials in the URL become basic authentication, as Client.Do
	// sends them.
	var auth string
	rt = func(r *http.Request) (*http.Response, error) {
		auth = r.Header.Get("Authorization")
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	}
	req, _ = http.NewRequest(http.MethodPost, "http://user:pass@up.example/v1", strings.NewReader("{}"))
	if _, err := NewSender(&http.Client{Transport: rt, CheckRedirect: noRedirects}).Do(req); err != nil {
		t.Fatal(err)
	}
	if auth != "Basic dXNlcjpwYXNz" {
		t.Errorf("Authorization %q, want the URL's credentials", auth)
	}
}
