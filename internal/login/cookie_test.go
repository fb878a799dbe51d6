package login

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

// TestSecureRequest: cookies are Secure when Sluice terminates TLS or a
// proxy in front of it says the browser used HTTPS.
func TestSecureRequest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tls   bool
		proto []string
		want  bool
	}{
		{"plain http", false, nil, false},
		{"tls here", true, nil, true},
		{"proxy https", false, []string{"https"}, true},
		{"proxy HTTPS", false, []string{" HTTPS "}, true},
		{"proxy list, first https", false, []string{"https, http"}, true},
		{"proxy list, first http", false, []string{"http, https"}, false},
		{"proxy http", false, []string{"http"}, false},
		{"proxy garbage", false, []string{"httpsx"}, false},
		{"tls here, proxy http", true, []string{"http"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/console/", nil)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for _, v := range tc.proto {
				r.Header.Add("X-Forwarded-Proto", v)
			}
			if got := SecureRequest(r); got != tc.want {
				t.Errorf("SecureRequest = %v, want %v", got, tc.want)
			}
		})
	}
}
