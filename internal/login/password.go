package login

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters. They are written into every encoded hash, so
// DefaultParams can be raised later and old hashes still verify with their own.
type Params struct {
	MemoryKiB uint32 // m, in KiB
	Time      uint32 // t, passes over memory
	Threads   uint8  // p, lanes
}

// DefaultParams is the OWASP minimum for argon2id: 19 MiB, 2 passes, 1 lane.
var DefaultParams = Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// Limits on what VerifyPassword accepts, so that a hash row cannot make one login cost
// gigabytes or minutes (an attacker who can write the row could; so could a typo).
const (
	maxMemoryKiB  = 1 << 20 // 1 GiB
	maxTime       = 10
	maxThreads    = 16
	minSaltLen    = 8
	maxSaltLen    = 64
	minKeyLen     = 16
	maxKeyLen     = 64
	maxEncodedLen = 256

	saltLen = 16
	keyLen  = 32

	// MinPasswordChars and MaxPasswordBytes bound what CheckPasswordPolicy accepts.
	MinPasswordChars = 12
	MaxPasswordBytes = 1024
)

// Password policy errors. Their messages are safe to show to the user.
var (
	ErrPasswordTooShort = fmt.Errorf("password must be at least %d characters", MinPasswordChars)
	ErrPasswordTooLong  = fmt.Errorf("password must be at most %d bytes", MaxPasswordBytes)
	ErrPasswordNotUTF8  = errors.New("password must be valid UTF-8")
)

// b64 is the PHC string format's base64: standard alphabet, no padding. Strict so that
// one hash has exactly one encoding.
var b64 = base64.RawStdEncoding.Strict()

// hashSlots bounds how many argon2 computations run at once. Each one holds MemoryKiB of
// memory (19 MiB by default) and keeps one core busy, so running more than there are
// cores buys no throughput and a login flood would otherwise turn into an out-of-memory.
var hashSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

func idKey(pw, salt []byte, p Params, n uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey(pw, salt, p.Time, p.MemoryKiB, p.Threads, n)
}

// HashPassword hashes pw with argon2id and DefaultParams under a fresh 16-byte salt and
// returns the PHC string: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>. It does not check
// the password policy; call CheckPasswordPolicy first when the password is being set.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("login: read salt: %w", err)
	}
	return encodeHash(DefaultParams, salt, idKey([]byte(pw), salt, DefaultParams, keyLen)), nil
}

func encodeHash(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// VerifyPassword reports whether pw matches the encoded argon2id hash. It reads the cost
// parameters from encoded, compares in constant time, and returns false (never panics)
// on malformed input or on parameters above the limits (m > 1 GiB, t > 10, p > 16).
func VerifyPassword(encoded, pw string) bool {
	if len(pw) > MaxPasswordBytes {
		return false
	}
	p, salt, want, err := parseHash(encoded)
	if err != nil {
		return false
	}
	got := idKey([]byte(pw), salt, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// NeedsRehash reports whether encoded was made with parameters other than DefaultParams
// (or cannot be parsed), so that the caller can store a fresh HashPassword after a
// successful login.
func NeedsRehash(encoded string) bool {
	p, salt, key, err := parseHash(encoded)
	return err != nil || p != DefaultParams || len(salt) != saltLen || len(key) != keyLen
}

// dummySalt and dummyKey stand in for a stored hash when the user does not exist.
var (
	dummySalt = []byte("sluice-dummy-slt") // 16 bytes, like a real salt
	dummyKey  = make([]byte, keyLen)
)

// VerifyDummy does the work of VerifyPassword against a hash made with DefaultParams and
// returns false. Call it when the account does not exist (or has no password), so that
// the response time does not tell an attacker which accounts exist.
func VerifyDummy(pw string) bool {
	if len(pw) > MaxPasswordBytes {
		return false
	}
	got := idKey([]byte(pw), dummySalt, DefaultParams, keyLen)
	subtle.ConstantTimeCompare(got, dummyKey)
	return false
}

// CheckPasswordPolicy returns nil when pw may be set as a password: valid UTF-8, at least
// 12 characters (not bytes) and at most 1024 bytes. Length is the policy (NIST SP 800-63B);
// there are no composition rules.
func CheckPasswordPolicy(pw string) error {
	switch {
	case len(pw) > MaxPasswordBytes:
		return ErrPasswordTooLong
	case !utf8.ValidString(pw):
		return ErrPasswordNotUTF8
	case utf8.RuneCountInString(pw) < MinPasswordChars:
		return ErrPasswordTooShort
	}
	return nil
}

var errMalformed = errors.New("login: malformed password hash")

// parseHash parses a PHC argon2id string strictly: the exact field order that
// encodeHash writes, decimal numbers without signs or leading zeros, canonical base64,
// and parameters within the limits above.
func parseHash(s string) (p Params, salt, key []byte, err error) {
	if len(s) > maxEncodedLen {
		return p, nil, nil, errMalformed
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f { // base64 decoding would skip CR and LF
			return p, nil, nil, errMalformed
		}
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errMalformed
	}
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return p, nil, nil, errMalformed
	}
	m, ok1 := param(kv[0], "m=", maxMemoryKiB)
	t, ok2 := param(kv[1], "t=", maxTime)
	th, ok3 := param(kv[2], "p=", maxThreads)
	if !ok1 || !ok2 || !ok3 || t < 1 || th < 1 || m < 8*th {
		return p, nil, nil, errMalformed
	}
	p = Params{MemoryKiB: m, Time: t, Threads: uint8(th)}
	salt, err = b64.DecodeString(f[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return p, nil, nil, errMalformed
	}
	key, err = b64.DecodeString(f[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return p, nil, nil, errMalformed
	}
	return p, salt, key, nil
}

// param parses "name=N" where N is a canonical decimal in [0, limit].
func param(s, name string, limit uint32) (uint32, bool) {
	v, ok := strings.CutPrefix(s, name)
	if !ok || v == "" || len(v) > 10 || (len(v) > 1 && v[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n > uint64(limit) {
		return 0, false
	}
	return uint32(n), true
}
