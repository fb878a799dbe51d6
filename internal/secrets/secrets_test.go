package secrets

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
)

func openStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := store.OpenSQLite(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func mustKEK(t *testing.T) KEK {
	t.Helper()
	k, err := NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func canary() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "sk-CANARY-PROV-" + hex.EncodeToString(b)
}

var aadA = AAD{Tenant: "default", Object: "prv_a", Field: "api_key"}

func TestSealOpen(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	kr := NewKeyring(st, mustKEK(t))
	secret := canary()
	ct, err := kr.Seal(ctx, secret, aadA)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ct, secret) || !strings.HasPrefix(ct, "v1:dek-") {
		t.Fatalf("ciphertext %q", ct)
	}
	got, err := kr.Open(ctx, ct, aadA)
	if err != nil || got != secret {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// Two seals of the same secret differ (random nonce).
	ct2, _ := kr.Seal(ctx, secret, aadA)
	if ct2 == ct {
		t.Fatal("two seals gave the same ciphertext")
	}
	// A second keyring on the same store and KEK reads the stored DEK.
	again := NewKeyring(st, kr.kek)
	if got, err := again.Open(ctx, ct, aadA); err != nil || got != secret {
		t.Fatalf("fresh keyring: %q, %v", got, err)
	}

	cases := []struct {
		name string
		ct   string
		aad  AAD
	}{
		{"other row", ct, AAD{Tenant: "default", Object: "prv_b", Field: "api_key"}},
		{"other field", ct, AAD{Tenant: "default", Object: "prv_a", Field: "aws_secret"}},
		{"other tenant", ct, AAD{Tenant: "acme", Object: "prv_a", Field: "api_key"}},
		{"flipped byte", flip(t, ct, 20), aadA},
		{"flipped tag", flip(t, ct, -1), aadA},
		{"truncated", ct[:len(ct)-8], aadA},
		{"other DEK id", strings.Replace(ct, "v1:dek-", "v1:dek-0", 1), aadA},
		{"not base64", "v1:" + strings.Split(ct, ":")[1] + ":!!!", aadA},
		{"no format", "plain", aadA},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kr.Open(ctx, tc.ct, tc.aad)
			if !errors.Is(err, ErrOpen) || got != "" {
				t.Fatalf("Open = %q, %v; want ErrOpen", got, err)
			}
		})
	}
	if _, err := kr.Seal(ctx, "x", AAD{Tenant: "a|b", Object: "o", Field: "f"}); err == nil {
		t.Fatal("a '|' in the additional data was accepted")
	}
	if _, err := kr.Seal(ctx, "x", AAD{Tenant: "a", Field: "f"}); err == nil {
		t.Fatal("an empty object was accepted")
	}
}

// flip changes one byte of the sealed bytes (i < 0 counts from the end).
func flip(t *testing.T, ct string, i int) string {
	t.Helper()
	j := strings.LastIndex(ct, ":")
	raw, err := base64.StdEncoding.DecodeString(ct[j+1:])
	if err != nil {
		t.Fatal(err)
	}
	if i < 0 {
		i += len(raw)
	}
	raw[i] ^= 0x01
	return ct[:j+1] + base64.StdEncoding.EncodeToString(raw)
}

func TestWrongKEKFailsClearly(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	kr := NewKeyring(st, mustKEK(t))
	ct, err := kr.Seal(ctx, "secret", aadA)
	if err != nil {
		t.Fatal(err)
	}
	other := mustKEK(t)
	_, err = NewKeyring(st, other).Open(ctx, ct, aadA)
	if err == nil || !strings.Contains(err.Error(), kr.KEKID()) || !strings.Contains(err.Error(), other.ID()) {
		t.Fatalf("wrong KEK: %v", err)
	}
	// A KEK whose id is forged onto the record still fails to unwrap.
	forged := KEK{id: kr.KEKID(), key: other.key}
	if _, err := NewKeyring(st, forged).Open(ctx, ct, aadA); err == nil || !strings.Contains(err.Error(), "does not unwrap") {
		t.Fatalf("forged KEK id: %v", err)
	}
	// Opening before anything was sealed says so.
	st2, _ := openStore(t)
	if _, err := NewKeyring(st2, other).Open(ctx, ct, aadA); err == nil {
		t.Fatal("Open without a stored DEK succeeded")
	}
}

func TestRotateKEKKeepsRowsReadable(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	oldK, newK := mustKEK(t), mustKEK(t)
	if err := RotateKEK(ctx, st, oldK, newK); err != nil { // nothing stored yet: a no-op
		t.Fatal(err)
	}
	kr := NewKeyring(st, oldK)
	rows := map[string]string{}
	for _, id := range []string{"prv_1", "prv_2", "prv_3"} {
		ct, err := kr.Seal(ctx, "secret-"+id, AAD{Tenant: "default", Object: id, Field: "api_key"})
		if err != nil {
			t.Fatal(err)
		}
		rows[id] = ct
	}
	before, _ := st.Setting(ctx, settingDEK)
	if err := RotateKEK(ctx, st, oldK, newK); err != nil {
		t.Fatal(err)
	}
	after, _ := st.Setting(ctx, settingDEK)
	if after == before || !strings.Contains(after, newK.ID()) {
		t.Fatalf("the DEK was not re-wrapped: %s", after)
	}
	rotated := NewKeyring(st, newK)
	for id, ct := range rows {
		got, err := rotated.Open(ctx, ct, AAD{Tenant: "default", Object: id, Field: "api_key"})
		if err != nil || got != "secret-"+id {
			t.Fatalf("row %s after rotation: %q, %v", id, got, err)
		}
	}
	// New seals after rotation use the same DEK.
	ct, err := rotated.Seal(ctx, "later", aadA)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := NewKeyring(st, newK).Open(ctx, ct, aadA); got != "later" {
		t.Fatalf("seal after rotation: %q", got)
	}
	// The old KEK no longer opens anything; rotating again is a no-op;
	// rotating from a KEK that does not wrap the DEK fails.
	if _, err := NewKeyring(st, oldK).Open(ctx, rows["prv_1"], AAD{Tenant: "default", Object: "prv_1", Field: "api_key"}); err == nil {
		t.Fatal("the old KEK still opens rows after rotation")
	}
	if err := RotateKEK(ctx, st, oldK, newK); err != nil {
		t.Fatalf("second rotation: %v", err)
	}
	if err := RotateKEK(ctx, st, oldK, mustKEK(t)); err == nil {
		t.Fatal("rotation from a KEK that does not wrap the DEK succeeded")
	}
	// A running keyring keeps working across a rotation (it holds the DEK).
	if got, err := kr.Open(ctx, rows["prv_2"], AAD{Tenant: "default", Object: "prv_2", Field: "api_key"}); err != nil || got != "secret-prv_2" {
		t.Fatalf("running keyring after rotation: %q, %v", got, err)
	}
}

// Concurrent first seals from two keyrings (two servers) agree on one DEK.
func TestConcurrentFirstSealOneDEK(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	kek := mustKEK(t)
	var wg sync.WaitGroup
	cts := make([]string, 8)
	for i := range cts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ct, err := NewKeyring(st, kek).Seal(ctx, "s", aadA)
			if err != nil {
				t.Error(err)
			}
			cts[i] = ct
		}()
	}
	wg.Wait()
	kr := NewKeyring(st, kek)
	for _, ct := range cts {
		if got, err := kr.Open(ctx, ct, aadA); err != nil || got != "s" {
			t.Fatalf("a concurrent first seal is unreadable: %v", err)
		}
	}
}

// S10: the plaintext never reaches the database file.
func TestPlaintextNeverInDatabaseFile(t *testing.T) {
	ctx := context.Background()
	st, dir := openStore(t)
	kr := NewKeyring(st, mustKEK(t))
	secret := canary()
	ct, err := kr.Seal(ctx, secret, aadA)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetSetting(ctx, "sealed_for_test", ct); err != nil {
		t.Fatal(err)
	}
	st.Close() // checkpoints the WAL into the main file
	hits := scanDir(t, dir, secret, ct)
	if hits[secret] != 0 {
		t.Fatalf("the plaintext is in the database files: %v", hits)
	}
	if hits[ct] == 0 {
		t.Fatal("the scan did not find the ciphertext either: it cannot be trusted")
	}
}

// scanDir counts, over every file in dir, the files containing each needle.
func scanDir(t *testing.T, dir string, needles ...string) map[string]int {
	t.Helper()
	hits := map[string]int{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				hits[n]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func TestLoadKEK(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	k := mustKEK(t)

	got, origin, err := LoadKEK(t.TempDir(), env(map[string]string{EnvKEK: k.Encode()}))
	if err != nil || got.ID() != k.ID() || origin.Source != "env SLUICE_KEK" || origin.Generated {
		t.Fatalf("from env: %v %+v %v", got, origin, err)
	}
	file := filepath.Join(t.TempDir(), "kek.txt")
	if err := os.WriteFile(file, []byte("  "+k.Encode()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, _, err = LoadKEK(t.TempDir(), env(map[string]string{EnvKEKFile: file}))
	if err != nil || got.ID() != k.ID() {
		t.Fatalf("from file: %v %v", got, err)
	}
	if _, _, err := LoadKEK(t.TempDir(), env(map[string]string{EnvKEK: k.Encode(), EnvKEKFile: file})); err == nil {
		t.Fatal("both set was accepted")
	}
	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		if _, _, err := LoadKEK(t.TempDir(), env(map[string]string{EnvKEK: bad})); err == nil {
			t.Fatalf("bad KEK %q accepted", bad)
		} else if strings.Contains(err.Error(), bad) {
			t.Fatalf("the error repeats the key material: %v", err)
		}
	}
	if _, _, err := LoadKEK(t.TempDir(), env(map[string]string{EnvKEKFile: "/nonexistent/kek"})); err == nil {
		t.Fatal("a missing SLUICE_KEK_FILE was accepted")
	}

	// Neither set: generated once into the data dir (0600), then reused.
	dir := filepath.Join(t.TempDir(), "data")
	first, origin, err := LoadKEK(dir, env(nil))
	if err != nil || !origin.Generated || !strings.HasPrefix(origin.Source, "generated ") {
		t.Fatalf("generate: %+v %v", origin, err)
	}
	fi, err := os.Stat(filepath.Join(dir, KEKFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated file: %v %v", fi, err)
	}
	second, origin, err := LoadKEK(dir, env(nil))
	if err != nil || origin.Generated || second.ID() != first.ID() {
		t.Fatalf("second start: %v %+v %v", second, origin, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if err := WriteKEKFile(filepath.Join(dir, KEKFileName), mustKEK(t)); !errors.Is(err, os.ErrExist) {
		t.Fatalf("WriteKEKFile over an existing file: %v", err)
	}
	if s := first.String(); strings.Contains(s, first.Encode()) {
		t.Fatal("KEK.String shows the key")
	}
}

func TestDerive(t *testing.T) {
	a, _ := NewKEK()
	b, _ := NewKEK()
	same, _ := ParseKEK(a.Encode())
	if !bytes.Equal(a.Derive("x"), same.Derive("x")) || len(a.Derive("x")) != 32 {
		t.Fatal("the same KEK derives different keys")
	}
	if bytes.Equal(a.Derive("x"), a.Derive("y")) || bytes.Equal(a.Derive("x"), b.Derive("x")) {
		t.Fatal("different purposes or KEKs derive the same key")
	}
}
