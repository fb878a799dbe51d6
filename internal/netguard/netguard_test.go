package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// TestURLVectors is the SSRF table of RELIABILITY.md S6 for URLs.
func TestURLVectors(t *testing.T) {
	bad := []string{
		"http://169.254.169.254/latest/meta-data", "http://127.0.0.1:8000/v1", "http://[::1]/v1", "http://0.0.0.0/",
		"http://10.1.2.3/", "http://172.16.0.1/", "http://172.31.255.255/", "http://192.168.1.1/", "http://[fd00::1]/",
		"http://[::ffff:127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/", "http://2130706433/", "http://0177.0.0.1/",
		"http://0x7f.1/", "http://0x7f000001/", "http://100.64.0.1/", "http://[fe80::1]/", "http://224.0.0.1/",
		"file:///etc/passwd", "gopher://example.com/", "ftp://example.com/", "http://user:pass@example.com/",
		"http://a@b.example.com/", "http://example.com/#@evil", "http:///nohost", "http://[::]/",
	}
	for _, u := range bad {
		if err := CheckURL(u); err == nil {
			t.Errorf("CheckURL(%q) accepted", u)
		}
	}
	for _, u := range []string{"https://api.openai.com/v1", "https://api.anthropic.com", "http://8.8.8.8/v1", "https://bedrock-runtime.us-east-1.amazonaws.com"} {
		if err := CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) = %v", u, err)
		}
	}
}

func TestBlocked(t *testing.T) {
	for _, s := range []string{"127.0.0.1", "::1", "::ffff:10.0.0.1", "169.254.169.254", "fd12::1", "0.0.0.0", "255.255.255.255"} {
		if !Blocked(netip.MustParseAddr(s)) {
			t.Errorf("%s not blocked", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "2606:4700::1111"} {
		if Blocked(netip.MustParseAddr(s)) {
			t.Errorf("%s blocked", s)
		}
	}
}

// TestDialTime: a name that resolves to loopback is refused when dialled,
// and the listener never sees a connection (so no key is ever sent).
func TestDialTime(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{Control: Control}).DialContext}}
	for _, u := range []string{"http://localhost:" + port + "/", "http://127.0.0.1:" + port + "/", "http://[::1]:" + port + "/"} {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s reached", u)
		} else if !errors.Is(err, ErrBlocked) {
			t.Errorf("%s: %v, want ErrBlocked", u, err)
		}
	}
	if hits != 0 {
		t.Fatalf("the listener saw %d requests", hits)
	}
	_ = context.Background()
}
