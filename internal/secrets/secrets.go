// Package secrets seals credentials at rest with envelope encryption.
//
// A key-encryption key (KEK) comes from outside the database: SLUICE_KEK
// (base64 of 32 bytes), the file named by SLUICE_KEK_FILE, or, when neither
// is set, a key Sluice generates on its first start into <data-dir>/kek.
// The KEK wraps one random data-encryption key (DEK) per install, stored in
// the settings table with the id of the KEK that wrapped it. Every secret
// is sealed with AES-256-GCM under the DEK, with a random 96-bit nonce and
// the additional data "tenant|object|field", so a ciphertext copied to
// another row or field does not open. Rotating the KEK re-wraps the DEK
// and leaves every sealed row as it is.
//
// Random 96-bit nonces bound one DEK to about 2^32 seals (NIST SP 800-38D);
// Sluice seals once per credential write, far below that.
package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/internal/store"
)

// Environment variables that supply the KEK.
const (
	EnvKEK     = "SLUICE_KEK"
	EnvKEKFile = "SLUICE_KEK_FILE"
	// KEKFileName is the generated KEK's file name in the data directory.
	KEKFileName = "kek"
)

// settingDEK names the settings row that holds the wrapped DEK.
const settingDEK = "secrets_dek"

// ErrOpen is returned when a ciphertext does not open: a different DEK, a
// changed byte, or additional data (tenant, object, field) other than the
// one it was sealed with.
var ErrOpen = errors.New("secret does not open: wrong key, altered ciphertext, or ciphertext moved to another row")

// KEK is a key-encryption key. Its ID is derived from the key, so the same
// key always has the same ID and the ID reveals nothing usable.
type KEK struct {
	id  string
	key []byte
}

// Derive returns a 32-byte key for purpose, derived from the KEK
// (HMAC-SHA256): every node that shares the KEK derives the same key, and
// the derived key reveals nothing of the KEK.
func (k KEK) Derive(purpose string) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte("sluice derive|" + purpose))
	return m.Sum(nil)
}

// ID identifies the KEK ("kek-" and 16 hex digits).
func (k KEK) ID() string { return k.id }

// Encode returns the key as base64, the form SLUICE_KEK and the KEK files take.
func (k KEK) Encode() string { return base64.StdEncoding.EncodeToString(k.key) }

// String hides the key.
func (k KEK) String() string { return k.id }

// NewKEK returns a random KEK.
func NewKEK() (KEK, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return KEK{}, err
	}
	return kekFrom(b), nil
}

// ParseKEK decodes a base64 KEK of 32 bytes (surrounding space ignored).
func ParseKEK(s string) (KEK, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return KEK{}, errors.New("the key-encryption key must be base64 (for example `openssl rand -base64 32`)")
	}
	if len(b) != 32 {
		return KEK{}, fmt.Errorf("the key-encryption key must be 32 bytes; this one is %d", len(b))
	}
	return kekFrom(b), nil
}

func kekFrom(b []byte) KEK {
	h := sha256.Sum256(append([]byte("sluice kek id\x00"), b...))
	return KEK{id: "kek-" + hex.EncodeToString(h[:8]), key: b}
}

// Origin says where LoadKEK found the KEK.
type Origin struct {
	// Source is "env SLUICE_KEK", "file PATH" or "generated PATH".
	Source string
	// Generated is true when the key was made now, on this start.
	Generated bool
}

// LoadKEK returns the KEK named by the environment (getenv is os.Getenv in
// production): SLUICE_KEK, else SLUICE_KEK_FILE, else <dataDir>/kek,
// which is generated (mode 0600) when it does not exist.
func LoadKEK(dataDir string, getenv func(string) string) (KEK, Origin, error) {
	env, file := getenv(EnvKEK), getenv(EnvKEKFile)
	switch {
	case env != "" && file != "":
		return KEK{}, Origin{}, fmt.Errorf("set %s or %s, not both", EnvKEK, EnvKEKFile)
	case env != "":
		k, err := ParseKEK(env)
		if err != nil {
			return KEK{}, Origin{}, fmt.Errorf("%s: %w", EnvKEK, err)
		}
		return k, Origin{Source: "env " + EnvKEK}, nil
	case file != "":
		k, err := readKEKFile(file)
		return k, Origin{Source: "file " + file}, err
	}
	path := filepath.Join(dataDir, KEKFileName)
	k, err := readKEKFile(path)
	if err == nil {
		return k, Origin{Source: "file " + path}, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return KEK{}, Origin{}, err
	}
	k, err = NewKEK()
	if err != nil {
		return KEK{}, Origin{}, err
	}
	switch err := writeKEKFile(path, k); {
	case errors.Is(err, os.ErrExist): // another process made it first: use theirs
		k, err := readKEKFile(path)
		return k, Origin{Source: "file " + path}, err
	case err != nil:
		return KEK{}, Origin{}, err
	}
	return k, Origin{Source: "generated " + path, Generated: true}, nil
}

func readKEKFile(path string) (KEK, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return KEK{}, err
	}
	k, err := ParseKEK(string(b))
	if err != nil {
		return KEK{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// WriteKEKFile writes k to path (mode 0600), failing if path exists. The
// file appears whole or not at all.
func WriteKEKFile(path string, k KEK) error { return writeKEKFile(path, k) }

func writeKEKFile(path string, k KEK) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".kek-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(k.Encode() + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil { // fails if path exists
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Settings is where the wrapped DEK lives: the store's settings table.
type Settings interface {
	// Setting returns a setting, or store.ErrNotFound.
	Setting(ctx context.Context, name string) (string, error)
	// CreateSetting stores a new setting, or returns store.ErrConflict if
	// it exists.
	CreateSetting(ctx context.Context, name, value string) error
	// SwapSetting replaces a setting's value if it is still old, and
	// returns store.ErrConflict otherwise.
	SwapSetting(ctx context.Context, name, old, value string) error
}

var _ Settings = (*store.Store)(nil)

// wrappedDEK is the stored form of the DEK.
type wrappedDEK struct {
	V       int    `json:"v"`
	DEKID   string `json:"dek_id"`
	KEKID   string `json:"kek_id"`
	Wrapped string `json:"wrapped"` // base64(nonce || AES-256-GCM(KEK, dek))
}

func wrapAAD(dekID string) []byte { return []byte("sluice dek|" + dekID) }

func (w wrappedDEK) unwrap(k KEK) ([]byte, error) {
	if w.V != 1 {
		return nil, fmt.Errorf("stored data-encryption key has unknown version %d", w.V)
	}
	if w.KEKID != k.ID() {
		return nil, fmt.Errorf("the stored data-encryption key is wrapped by key-encryption key %s, but the one given is %s (set %s or %s to the KEK this install was set up with)",
			w.KEKID, k.ID(), EnvKEK, EnvKEKFile)
	}
	raw, err := base64.StdEncoding.DecodeString(w.Wrapped)
	if err != nil {
		return nil, errors.New("stored data-encryption key is malformed")
	}
	dek, err := gcmOpen(k.key, raw, wrapAAD(w.DEKID))
	if err != nil || len(dek) != 32 {
		return nil, fmt.Errorf("the stored data-encryption key does not unwrap with key-encryption key %s", k.ID())
	}
	return dek, nil
}

func wrap(k KEK, dekID string, dek []byte) (string, error) {
	ct, err := gcmSeal(k.key, dek, wrapAAD(dekID))
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(wrappedDEK{V: 1, DEKID: dekID, KEKID: k.ID(), Wrapped: base64.StdEncoding.EncodeToString(ct)})
	return string(b), err
}

func gcmSeal(key, plaintext, aad []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(plaintext)+g.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return g.Seal(nonce, nonce, plaintext, aad), nil
}

func gcmOpen(key, sealed, aad []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < g.NonceSize()+g.Overhead() {
		return nil, ErrOpen
	}
	pt, err := g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b) // 96-bit nonce, 128-bit tag
}

// AAD binds a ciphertext to where it is stored.
type AAD struct {
	Tenant string // "default" until Sluice has tenants
	Object string // the row's id, such as a provider id
	Field  string // the column, such as "api_key"
}

func (a AAD) bytes() ([]byte, error) {
	if a.Tenant == "" || a.Object == "" || a.Field == "" || strings.Contains(a.Tenant+a.Object+a.Field, "|") {
		return nil, fmt.Errorf("secrets: additional data %q|%q|%q: every part is required and none may contain '|'", a.Tenant, a.Object, a.Field)
	}
	return []byte(a.Tenant + "|" + a.Object + "|" + a.Field), nil
}

// Keyring seals and opens secrets under the install's DEK. It loads the
// DEK on first use and creates it on the first Seal, so an install that
// stores no secret never writes one. It is safe for concurrent use.
type Keyring struct {
	st  Settings
	kek KEK

	mu    sync.Mutex // guards dekID and dek
	dekID string
	dek   []byte
}

// NewKeyring returns a keyring that keeps its DEK in st, wrapped by kek.
func NewKeyring(st Settings, kek KEK) *Keyring { return &Keyring{st: st, kek: kek} }

// KEKID is the id of the keyring's KEK.
func (k *Keyring) KEKID() string { return k.kek.ID() }

// load returns the DEK, reading it from the settings (and creating it
// there when create is set and there is none).
func (k *Keyring) load(ctx context.Context, create bool) (string, []byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dek != nil {
		return k.dekID, k.dek, nil
	}
	for range 3 {
		v, err := k.st.Setting(ctx, settingDEK)
		if errors.Is(err, store.ErrNotFound) {
			if !create {
				return "", nil, errors.New("no data-encryption key is stored, so nothing sealed can open")
			}
			id, dek, wrapped, err := k.newDEK()
			if err != nil {
				return "", nil, err
			}
			switch err := k.st.CreateSetting(ctx, settingDEK, wrapped); {
			case errors.Is(err, store.ErrConflict):
				continue // another process created it: read theirs
			case err != nil:
				return "", nil, err
			}
			k.dekID, k.dek = id, dek
			return id, dek, nil
		}
		if err != nil {
			return "", nil, err
		}
		var w wrappedDEK
		if err := json.Unmarshal([]byte(v), &w); err != nil {
			return "", nil, errors.New("stored data-encryption key is malformed")
		}
		dek, err := w.unwrap(k.kek)
		if err != nil {
			return "", nil, err
		}
		k.dekID, k.dek = w.DEKID, dek
		return w.DEKID, dek, nil
	}
	return "", nil, errors.New("could not create or read the data-encryption key")
}

func (k *Keyring) newDEK() (id string, dek []byte, wrapped string, err error) {
	dek = make([]byte, 32)
	idb := make([]byte, 8)
	if _, err = rand.Read(dek); err != nil {
		return
	}
	if _, err = rand.Read(idb); err != nil {
		return
	}
	id = "dek-" + hex.EncodeToString(idb)
	wrapped, err = wrap(k.kek, id, dek)
	return
}

// ciphertext format: "v1:" + DEK id + ":" + base64(nonce || ciphertext || tag).
const sealedPrefix = "v1:"

// Seal encrypts plaintext for the place aad names and returns printable
// ciphertext.
func (k *Keyring) Seal(ctx context.Context, plaintext string, aad AAD) (string, error) {
	ad, err := aad.bytes()
	if err != nil {
		return "", err
	}
	id, dek, err := k.load(ctx, true)
	if err != nil {
		return "", err
	}
	ct, err := gcmSeal(dek, []byte(plaintext), ad)
	if err != nil {
		return "", err
	}
	return sealedPrefix + id + ":" + base64.StdEncoding.EncodeToString(ct), nil
}

// Open decrypts a ciphertext from Seal, given the same aad. It returns
// ErrOpen (wrapped) when the ciphertext was altered or belongs elsewhere.
func (k *Keyring) Open(ctx context.Context, ciphertext string, aad AAD) (string, error) {
	ad, err := aad.bytes()
	if err != nil {
		return "", err
	}
	rest, ok := strings.CutPrefix(ciphertext, sealedPrefix)
	id, b64, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 {
		return "", fmt.Errorf("%w (unknown format)", ErrOpen)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("%w (not base64)", ErrOpen)
	}
	have, dek, err := k.load(ctx, false)
	if err != nil {
		return "", err
	}
	if id != have {
		return "", fmt.Errorf("%w (sealed under data-encryption key %s; this install's is %s)", ErrOpen, id, have)
	}
	pt, err := gcmOpen(dek, raw, ad)
	if err != nil {
		return "", err
	}
	return string(pt), nil
}

// RotateKEK re-wraps the install's DEK, now wrapped by current, under next.
// Sealed rows do not change and stay readable with next. Running it again
// after it succeeded is a no-op; with no DEK stored there is nothing to do.
// Running servers keep working (they hold the DEK); start them with next.
func RotateKEK(ctx context.Context, st Settings, current, next KEK) error {
	v, err := st.Setting(ctx, settingDEK)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var w wrappedDEK
	if err := json.Unmarshal([]byte(v), &w); err != nil {
		return errors.New("stored data-encryption key is malformed")
	}
	if w.KEKID == next.ID() {
		if _, err := w.unwrap(next); err != nil {
			return err
		}
		return nil // already rotated
	}
	dek, err := w.unwrap(current)
	if err != nil {
		return err
	}
	nw, err := wrap(next, w.DEKID, dek)
	if err != nil {
		return err
	}
	if err := st.SwapSetting(ctx, settingDEK, v, nw); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errors.New("the data-encryption key changed during the rotation; run it again")
		}
		return err
	}
	return nil
}
