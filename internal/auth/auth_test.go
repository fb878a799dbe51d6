package auth

import (
	"fmt"
	"hash/crc32"
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

func TestFromRequestEdges(t *testing.T) {
	atMax := strings.Repeat("k", 512) // MaxKeyLen, as documented
	tests := []struct {
		name string
		hdr  http.Header
		want string
	}{
		{"key of MaxKeyLen bytes", http.Header{"Authorization": {"Bearer " + atMax}}, atMax},
		{"key of MaxKeyLen+1 bytes", http.Header{"Authorization": {"Bearer " + atMax + "k"}}, ""},
		{"api-key of MaxKeyLen+1 bytes", http.Header{"Api-Key": {atMax + "k"}}, ""},
		{"one-byte key", http.Header{"X-Api-Key": {"k"}}, "k"},
		{"BEARER in capitals", http.Header{"Authorization": {"BEARER abc"}}, "abc"},
		{"Bearer without a space", http.Header{"Authorization": {"Bearer"}}, ""},
		{"Bearer followed by a tab", http.Header{"Authorization": {"Bearer\tabc"}}, ""},
		{"Bearer prefix glued to the key", http.Header{"Authorization": {"Bearerabc"}}, ""},
		{"trailing spaces are trimmed", http.Header{"Api-Key": {" abc  "}}, "abc"},
		// An empty credential in one header counts as absent, so another
		// header may carry the key.
		{"bare Bearer and x-api-key", http.Header{"Authorization": {"Bearer "}, "X-Api-Key": {"abc"}}, "abc"},
		{"empty api-key and Bearer", http.Header{"Authorization": {"Bearer abc"}, "Api-Key": {""}}, "abc"},
		{"empty x-api-key and api-key", http.Header{"Api-Key": {"abc"}, "X-Api-Key": {"  "}}, "abc"},
		{"malformed authorization hides x-api-key", http.Header{"Authorization": {"Basic abc"}, "X-Api-Key": {"abc"}}, ""},
		{"Bearer without a space hides x-api-key", http.Header{"Authorization": {"Bearer"}, "X-Api-Key": {"abc"}}, ""},
		{"two api-key headers", http.Header{"Api-Key": {"abc", "abc"}}, ""},
		{"two x-api-key headers", http.Header{"X-Api-Key": {"abc", "def"}}, ""},
		{"two api-key headers beside a bearer", http.Header{"Authorization": {"Bearer abc"}, "Api-Key": {"abc", "abc"}}, ""},
		{"two x-api-key headers beside an api-key", http.Header{"Api-Key": {"abc"}, "X-Api-Key": {"abc", "abc"}}, ""},
		{"api-key and x-api-key agree", http.Header{"Api-Key": {"abc"}, "X-Api-Key": {"abc"}}, "abc"},
		{"api-key and x-api-key differ", http.Header{"Api-Key": {"abc"}, "X-Api-Key": {"abd"}}, ""},
		{"all three agree", http.Header{"Authorization": {"bearer abc"}, "Api-Key": {"abc"}, "X-Api-Key": {"abc"}}, "abc"},
		{"third header disagrees", http.Header{"Authorization": {"bearer abc"}, "Api-Key": {"abc"}, "X-Api-Key": {"abc2"}}, ""},
		{"control character first", http.Header{"Api-Key": {"\x01abc"}}, ""},
		{"control character last", http.Header{"Api-Key": {"abc\x1f"}}, ""},
		{"DEL", http.Header{"X-Api-Key": {"ab\x7fc"}}, ""},
		{"tilde is allowed", http.Header{"X-Api-Key": {"ab~c"}}, "ab~c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FromRequest(tc.hdr); got != tc.want {
				t.Fatalf("FromRequest = %q, want %q", got, tc.want)
			}
		})
	}
}

// verifyKey checks a virtual key as a secret scanner would: the prefix, 43
// base62 characters, then the CRC-32 of those characters in 6 base62 digits.
func verifyKey(key, env string) error {
	rest, ok := strings.CutPrefix(key, "gw-"+env+"-")
	if !ok {
		return fmt.Errorf("prefix of %q", key)
	}
	if len(rest) != 43+6 {
		return fmt.Errorf("%q has %d characters after the prefix, want 49", key, len(rest))
	}
	var sum uint64
	for i := 0; i < len(rest); i++ {
		d := strings.IndexByte(base62Digits, rest[i])
		if d < 0 {
			return fmt.Errorf("%q: byte %q is not base62", key, rest[i])
		}
		if i >= 43 {
			sum = sum*62 + uint64(d)
		}
	}
	if want := crc32.ChecksumIEEE([]byte(rest[:43])); sum != uint64(want) {
		return fmt.Errorf("%q: checksum %d, want %d", key, sum, want)
	}
	return nil
}

const base62Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func TestNewKeyChecksum(t *testing.T) {
	for _, env := range []string{"live", "test"} {
		for range 50 {
			if err := verifyKey(NewKey(env), env); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The verifier notices a changed character, in the body or the checksum.
	key := NewKey("live")
	for _, i := range []int{len("gw-live-"), len(key) - 6, len(key) - 1} {
		c := byte('0')
		if key[i] == '0' {
			c = '1'
		}
		bad := key[:i] + string(c) + key[i+1:]
		if verifyKey(bad, "live") == nil {
			t.Errorf("a key with byte %d changed passes: %q", i, bad)
		}
	}
}

func TestEncode62(t *testing.T) {
	tests := []struct {
		v    uint64
		want string
	}{
		{0, "000000"},
		{1, "000001"},
		{61, "00000z"},
		{62, "000010"},
		{3843, "0000zz"},
		{3844, "000100"},
		{907060870, "0zNvy2"}, // crc32("hello")
		{1<<32 - 1, "4gfFC3"}, // the largest CRC-32
		{56800235583, "zzzzzz"},
	}
	for _, tc := range tests {
		if got := encode62(tc.v, 6); got != tc.want {
			t.Errorf("encode62(%d) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// Keys and tokens use the whole base62 alphabet and nothing else. With 4,300
// random characters the chance that a given one of the 62 never appears is
// (61/62)^4300, below 1e-30.
func TestRandomAlphabet(t *testing.T) {
	seen := map[byte]int{}
	tokens := map[string]bool{}
	for range 100 {
		tok := NewAdminToken()
		body, ok := strings.CutPrefix(tok, "sla-")
		if !ok || len(body) != 43 {
			t.Fatalf("admin token %q: want sla- and 43 characters", tok)
		}
		if tokens[tok] {
			t.Fatalf("admin token %q twice", tok)
		}
		tokens[tok] = true
		for i := 0; i < len(body); i++ {
			seen[body[i]]++
		}
	}
	for b := range seen {
		if !strings.ContainsRune(base62Digits, rune(b)) {
			t.Fatalf("byte %q is not base62", b)
		}
	}
	if len(seen) != 62 {
		t.Fatalf("%d distinct characters in 4,300, want all 62", len(seen))
	}
}

func TestDisplayPrefix(t *testing.T) {
	tests := []struct{ key, want string }{
		{"", "…"},
		{"abc", "abc…"},
		{"abcd", "abcd…"},
		{"abcde", "abcd…"},
		{"abcdefghijkl", "abcd…"}, // 12 bytes: still only 4 shown
		{"abcdefghijklm", "abcdefghijkl…"},
		{"abcdefghijklmn", "abcdefghijkl…"},
		{"gw-live-0123456789ABCDEFGHIJ", "gw-live-0123…"},
	}
	for _, tc := range tests {
		if got := DisplayPrefix(tc.key); got != tc.want {
			t.Errorf("DisplayPrefix(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"sla-abc", "sla-abc", true},
		{"sla-abc", "sla-abd", false},
		{"sla-abc", "sla-ab", false},
		{"sla-ab", "sla-abc", false},
		{"", "x", false},
		{"Sla-abc", "sla-abc", false},
	}
	for _, tc := range tests {
		if got := Equal(tc.a, tc.b); got != tc.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
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
