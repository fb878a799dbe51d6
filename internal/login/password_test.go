package login

import (
	"strings"
	"testing"
	"time"
)

func TestHashPasswordFormatAndVerify(t *testing.T) {
	const pw = "correct horse battery staple"
	enc, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("encoded = %q, want the OWASP-minimum PHC prefix", enc)
	}
	p, salt, key, err := parseHash(enc)
	if err != nil || p != DefaultParams || len(salt) != 16 || len(key) != 32 {
		t.Fatalf("parse(%q) = %+v salt %d key %d err %v", enc, p, len(salt), len(key), err)
	}
	if strings.Contains(enc, "=$") || strings.HasSuffix(enc, "=") {
		t.Fatalf("encoded %q has base64 padding", enc)
	}
	enc2, err := HashPassword(pw)
	if err != nil || enc2 == enc {
		t.Fatalf("two hashes of one password are equal (salt not random): %q", enc)
	}
	if !VerifyPassword(enc, pw) {
		t.Fatal("VerifyPassword(right password) = false")
	}
	if VerifyPassword(enc, pw+"!") || VerifyPassword(enc, "") {
		t.Fatal("VerifyPassword(wrong password) = true")
	}
	if NeedsRehash(enc) {
		t.Fatal("NeedsRehash(fresh hash) = true")
	}
}

// TestVerifyPasswordReadsParams checks that the cost comes from the string, so that
// DefaultParams can be raised without invalidating stored hashes.
func TestVerifyPasswordReadsParams(t *testing.T) {
	cheap := Params{MemoryKiB: 64, Time: 1, Threads: 1}
	salt := []byte("0123456789abcdef")
	enc := encodeHash(cheap, salt, idKey([]byte("pw-under-old-params"), salt, cheap, 32))
	if !VerifyPassword(enc, "pw-under-old-params") {
		t.Fatalf("VerifyPassword(%q) = false", enc)
	}
	if VerifyPassword(enc, "pw-under-old-paramz") {
		t.Fatal("wrong password verified")
	}
	if !NeedsRehash(enc) {
		t.Fatal("NeedsRehash(old params) = false")
	}
	// The same key under different params in the string must not verify.
	other := strings.Replace(enc, "t=1", "t=2", 1)
	if VerifyPassword(other, "pw-under-old-params") {
		t.Fatal("hash verified under params it was not made with")
	}
}

func TestParseHashRejects(t *testing.T) {
	const salt, key = "MDEyMzQ1Njc4OWFiY2RlZg", "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE"
	good := "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key
	if _, _, _, err := parseHash(good); err != nil {
		t.Fatalf("parseHash(good) = %v", err)
	}
	tests := []struct{ name, enc string }{
		{"empty", ""},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"version 16", strings.Replace(good, "v=19", "v=16", 1)},
		{"missing version", "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key},
		{"params reordered", strings.Replace(good, "m=19456,t=2,p=1", "t=2,m=19456,p=1", 1)},
		{"extra param", strings.Replace(good, "p=1", "p=1,k=2", 1)},
		{"memory over 1 GiB", strings.Replace(good, "m=19456", "m=1048577", 1)},
		{"memory 4 GiB", strings.Replace(good, "m=19456", "m=4294967295", 1)},
		{"memory overflows uint32", strings.Replace(good, "m=19456", "m=4294967296", 1)},
		{"time over 10", strings.Replace(good, "t=2", "t=11", 1)},
		{"time zero", strings.Replace(good, "t=2", "t=0", 1)},
		{"threads over 16", strings.Replace(good, "p=1", "p=17", 1)},
		{"threads zero", strings.Replace(good, "p=1", "p=0", 1)},
		{"memory below 8 per lane", strings.Replace(strings.Replace(good, "m=19456", "m=15", 1), "p=1", "p=2", 1)},
		{"negative", strings.Replace(good, "t=2", "t=-2", 1)},
		{"plus sign", strings.Replace(good, "t=2", "t=+2", 1)},
		{"leading zero", strings.Replace(good, "t=2", "t=02", 1)},
		{"empty number", strings.Replace(good, "t=2", "t=", 1)},
		{"padded salt", strings.Replace(good, salt, salt+"==", 1)},
		{"non-canonical base64", good[:len(good)-1] + "F"},
		{"url alphabet", strings.Replace(good, key, strings.Repeat("_", 43), 1)},
		{"salt too short", strings.Replace(good, salt, "MDEyMzQ1Ng", 1)},
		{"key too short", strings.Replace(good, key, "YWFhYQ", 1)},
		{"CR in salt", strings.Replace(good, salt, salt[:6]+"\r"+salt[6:], 1)},
		{"LF in key", strings.Replace(good, key, key[:6]+"\n"+key[6:], 1)},
		{"trailing field", good + "$"},
		{"leading junk", "x" + good},
		{"too long", good + strings.Repeat("A", 300)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, _, err := parseHash(tc.enc); err == nil {
				t.Fatalf("parseHash(%q) = nil error", tc.enc)
			}
			start := time.Now()
			if VerifyPassword(tc.enc, "anything") {
				t.Fatalf("VerifyPassword(%q) = true", tc.enc)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("VerifyPassword(%q) took %v", tc.enc, d)
			}
		})
	}
}

func TestVerifyPasswordRefusesHugePassword(t *testing.T) {
	pw := strings.Repeat("a", MaxPasswordBytes+1)
	cheap := Params{MemoryKiB: 64, Time: 1, Threads: 1}
	salt := []byte("0123456789abcdef")
	enc := encodeHash(cheap, salt, idKey([]byte(pw), salt, cheap, 32))
	if VerifyPassword(enc, pw) || VerifyDummy(pw) {
		t.Fatal("a password over MaxPasswordBytes was hashed")
	}
}

func TestCheckPasswordPolicy(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		want error
	}{
		{"empty", "", ErrPasswordTooShort},
		{"11 chars", "abcdefghijk", ErrPasswordTooShort},
		{"12 chars", "abcdefghijkl", nil},
		{"12 runes, 36 bytes", strings.Repeat("€", 12), nil},
		{"11 runes, 33 bytes", strings.Repeat("€", 11), ErrPasswordTooShort},
		{"1024 bytes", strings.Repeat("a", 1024), nil},
		{"1025 bytes", strings.Repeat("a", 1025), ErrPasswordTooLong},
		{"invalid UTF-8", "abcdefghijkl\xff", ErrPasswordNotUTF8},
		{"spaces count", "            ", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckPasswordPolicy(tc.pw); got != tc.want {
				t.Fatalf("CheckPasswordPolicy = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestVerifyDummyTakesAsLong checks that a login for a missing user costs what a login
// for an existing one does. The bound is loose (3x) because this machine is shared.
func TestVerifyDummyTakesAsLong(t *testing.T) {
	enc, err := HashPassword("some real password")
	if err != nil {
		t.Fatal(err)
	}
	fastest := func(f func()) time.Duration {
		best := time.Duration(1 << 62)
		for range 5 {
			start := time.Now()
			f()
			best = min(best, time.Since(start))
		}
		return best
	}
	real := fastest(func() { VerifyPassword(enc, "wrong password!") })
	dummy := fastest(func() {
		if VerifyDummy("wrong password!") {
			t.Error("VerifyDummy = true")
		}
	})
	t.Logf("VerifyPassword %v, VerifyDummy %v", real, dummy)
	if dummy*3 < real || dummy > real*3 {
		t.Fatalf("VerifyDummy %v vs VerifyPassword %v: timing tells whether the user exists", dummy, real)
	}
}

func FuzzParseHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE")
	f.Add("$argon2id$v=19$m=1048577,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$YWFhYWFhYWFhYWFhYWFhYQ")
	f.Add("$argon2id$v=19$m=16,t=1,p=2$MDEyMzQ1Njc$YWFhYWFhYWFhYWFhYWFhYQ")
	f.Add("$argon2id$v=19$m=19456,t=02,p=1$$")
	f.Add("$argon2id$v=19$m=,t=,p=$x$y")
	f.Add("$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := parseHash(s)
		if err != nil {
			return
		}
		if p.MemoryKiB > maxMemoryKiB || p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Threads > maxThreads ||
			p.MemoryKiB < 8*uint32(p.Threads) {
			t.Fatalf("parseHash(%q) accepted params %+v", s, p)
		}
		if len(salt) < minSaltLen || len(salt) > maxSaltLen || len(key) < minKeyLen || len(key) > maxKeyLen {
			t.Fatalf("parseHash(%q) accepted salt %d key %d bytes", s, len(salt), len(key))
		}
		// One hash, one encoding: what parses re-encodes to the same string.
		if got := encodeHash(p, salt, key); got != s {
			t.Fatalf("parseHash(%q) re-encodes as %q", s, got)
		}
	})
}
