package chaos

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestModes(t *testing.T) {
	body := strings.Repeat("0123456789", 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) }))
	defer srv.Close()
	target := strings.TrimPrefix(srv.URL, "http://")
	get := func(p *Proxy) (string, error) {
		c := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + p.Addr())
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	p := Start(t, target, Mode{Slice: true})
	if got, err := get(p); err != nil || got != body {
		t.Fatalf("slice: %q %v", got, err)
	}
	p.SetMode(Mode{Blackhole: true})
	if _, err := get(p); err == nil {
		t.Fatal("blackhole answered")
	}
	p.SetMode(Mode{ResetAfter: 200})
	if _, err := get(p); err == nil {
		t.Fatal("reset after 200 bytes gave a complete answer")
	}
	p.SetMode(Mode{ResetAfter: -1})
	if _, err := get(p); err == nil {
		t.Fatal("immediate reset answered")
	}
	if p.Accepted() != 4 {
		t.Fatalf("accepted %d", p.Accepted())
	}
}
