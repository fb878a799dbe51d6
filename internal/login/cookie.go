package login

import (
	"net/http"
	"strings"
)

// SecureRequest reports whether the browser reached Sluice over HTTPS:
// Sluice terminated TLS itself, or a proxy in front of it did and says so
// in X-Forwarded-Proto. Cookies set in answer to such a request are
// Secure. The header is believed from anyone because Secure only narrows
// where a browser sends the cookie: a forged header can make a session
// fail to sign in over plain HTTP, never expose one.
func SecureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}
