// Package auth extracts client credentials from requests, hashes virtual
// keys, and generates new keys and admin tokens.
//
// Virtual keys are high-entropy random strings, so a SHA-256 digest is a safe
// stored form; lookups go by digest, which makes timing side channels moot.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"hash/crc32"
	"net/http"
	"strings"
)

// Hash is the stored form of a key.
type Hash [sha256.Size]byte

// HashKey returns the SHA-256 digest of a key.
func HashKey(key string) Hash { return sha256.Sum256([]byte(key)) }

// MaxKeyLen bounds the credential read from a request.
const MaxKeyLen = 512

// FromRequest returns the client credential from `Authorization: Bearer`,
// `api-key` or `x-api-key`, in that order of preference. It returns "" when
// none is present or the value is malformed (too long, control characters,
// or several different values across headers).
func FromRequest(h http.Header) string {
	var found string
	take := func(v string) bool {
		if v == "" {
			return true
		}
		if found != "" && found != v {
			found = ""
			return false // conflicting credentials: treat as missing
		}
		found = v
		return true
	}
	if vs := h["Authorization"]; len(vs) > 0 {
		if len(vs) > 1 {
			return ""
		}
		v := vs[0]
		if len(v) < 7 || !strings.EqualFold(v[:7], "bearer ") {
			return ""
		}
		if !take(strings.TrimSpace(v[7:])) {
			return ""
		}
	}
	for _, name := range [...]string{"Api-Key", "X-Api-Key"} {
		vs := h[name]
		if len(vs) > 1 {
			return ""
		}
		if len(vs) == 1 && !take(strings.TrimSpace(vs[0])) {
			return ""
		}
	}
	if len(found) > MaxKeyLen {
		return ""
	}
	for i := 0; i < len(found); i++ {
		if c := found[i]; c <= ' ' || c == 0x7f {
			return ""
		}
	}
	return found
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewKey returns a new virtual key "gw-<env>-<43 base62 chars><6 char crc32>",
// 256 bits of randomness with a checksum that secret scanners can verify.
func NewKey(env string) string {
	body := randomBase62(43)
	sum := crc32.ChecksumIEEE([]byte(body))
	return "gw-" + env + "-" + body + encode62(uint64(sum), 6)
}

// NewAdminToken returns a new random admin token.
func NewAdminToken() string { return "sla-" + randomBase62(43) }

// DisplayPrefix is the part of a key that may be shown and stored in clear.
func DisplayPrefix(key string) string {
	if len(key) <= 12 {
		return key[:min(len(key), 4)] + "…"
	}
	return key[:12] + "…"
}

// Equal compares two secrets in constant time.
func Equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func randomBase62(n int) string {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:])
		for _, c := range buf {
			if c < 248 { // 248 = 4*62: reject to avoid modulo bias
				out = append(out, base62[c%62])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out)
}

func encode62(v uint64, width int) string {
	b := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		b[i] = base62[v%62]
		v /= 62
	}
	return string(b)
}
