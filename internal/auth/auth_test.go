package auth

import (
	"net/http"
	"strings"
	"testing"
)

func TestFromRequest(t *testing.T) {
	tests := []struct {
		name string
		hdr  http.Header
		want string
	}{
		{"none", http.Header{}, ""},
		{"bearer", http.Header{"Authorization": {"Bearer abc"}}, "abc"},
		{"lowercase bearer", http.Header{"Authorization": {"bearer abc"}}, "abc"},
		{"two spaces", http.Header{"Authorization": {"Bearer  abc"}}, "abc"},
		{"basic is refused", http.Header{"Authorization": {"Basic abc"}}, ""},
		{"bearer without token", http.Header{"Authorization": {"Bearer "}}, ""},
		{"api-key", http.Header{"Api-Key": {"abc"}}, "abc"},
		{"x-api-key", http.Header{"X-Api-Key": {"abc"}}, "abc"},
		{"same key twice", http.Header{"Authorization": {"Bearer abc"}, "X-Api-Key": {"abc"}}, "abc"},
		{"conflicting keys", http.Header{"Authorization": {"Bearer abc"}, "X-Api-Key": {"def"}}, ""},
		{"two authorization headers", http.Header{"Authorization": {"Bearer abc", "Bearer abc"}}, ""},
		{"NUL byte", http.Header{"Authorization": {"Bearer a\x00b"}}, ""},
		{"inner space", http.Header{"Authorization": {"Bearer a b"}}, ""},
		{"10 KiB token", http.Header{"Authorization": {"Bearer " + strings.Repeat("a", 10<<10)}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FromRequest(tc.hdr); got != tc.want {
				t.Fatalf("FromRequest = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewKey(t *testing.T) {
	a, b := NewKey("live"), NewKey("live")
	if a == b || !strings.HasPrefix(a, "gw-live-") || len(a) != len("gw-live-")+43+6 {
		t.Fatalf("keys %q %q", a, b)
	}
	if p := DisplayPrefix(a); len(p) > 16 || strings.Contains(p, a[20:]) {
		t.Fatalf("display prefix %q reveals too much", p)
	}
	if !strings.HasPrefix(NewAdminToken(), "sla-") {
		t.Fatal("admin token prefix")
	}
	if HashKey(a) == HashKey(b) || HashKey(a) != HashKey(a) {
		t.Fatal("hash")
	}
}

func FuzzFromRequest(f *testing.F) {
	f.Add("Bearer abc", "", "")
	f.Add("bearer  x", "x", "")
	f.Add("", "", "k\x00")
	f.Fuzz(func(t *testing.T, authz, apiKey, xAPIKey string) {
		h := http.Header{}
		for k, v := range map[string]string{"Authorization": authz, "Api-Key": apiKey, "X-Api-Key": xAPIKey} {
			if v != "" {
				h.Set(k, v)
			}
		}
		got := FromRequest(h)
		if len(got) > MaxKeyLen || strings.ContainsAny(got, " \t\r\n\x00") {
			t.Fatalf("FromRequest returned a malformed key %q", got)
		}
	})
}
