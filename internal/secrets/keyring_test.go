package secrets

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
)

// memSettings is a Settings in memory whose calls can be made to fail or
// to lose races, as a shared database does under several servers.
type memSettings struct {
	mu      sync.Mutex
	values  map[string]string
	reads   int
	readErr error
	// conflicts is how many CreateSetting calls report that another
	// process created the setting first (without storing anything).
	conflicts int
	createErr error
	swapErr   error
}

func newMem() *memSettings { return &memSettings{values: map[string]string{}} }

func (m *memSettings) Setting(_ context.Context, name string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	if m.readErr != nil {
		return "", m.readErr
	}
	v, ok := m.values[name]
	if !ok {
		return "", store.ErrNotFound
	}
	return v, nil
}

func (m *memSettings) CreateSetting(_ context.Context, name, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.createErr != nil {
		return m.createErr
	}
	if m.conflicts > 0 {
		m.conflicts--
		return store.ErrConflict
	}
	if _, ok := m.values[name]; ok {
		return store.ErrConflict
	}
	m.values[name] = value
	return nil
}

func (m *memSettings) SwapSetting(_ context.Context, name, old, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.swapErr != nil {
		return m.swapErr
	}
	if m.values[name] != old {
		return store.ErrConflict
	}
	m.values[name] = value
	return nil
}

func TestSealOpenEdges(t *testing.T) {
	ctx := context.Background()
	kr := NewKeyring(newMem(), mustKEK(t))
	for _, secret := range []string{"", "x", strings.Repeat("s", 4096), "ünïcode|with:colons"} {
		ct, err := kr.Seal(ctx, secret, aadA)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := kr.Open(ctx, ct, aadA); err != nil || got != secret {
			t.Errorf("%q: Open = %q, %v", secret, got, err)
		}
	}
	ct, _ := kr.Seal(ctx, "x", aadA)
	dekID := strings.Split(ct, ":")[1]
	short := []struct {
		name string
		ct   string
	}{
		{"empty payload", "v1:" + dekID + ":"},
		{"a nonce only", "v1:" + dekID + ":" + base64.StdEncoding.EncodeToString(make([]byte, 12))},
		{"one byte short of an empty seal", "v1:" + dekID + ":" + base64.StdEncoding.EncodeToString(make([]byte, 27))},
		{"other version", strings.Replace(ct, "v1:", "v2:", 1)},
		{"no DEK separator", "v1:" + dekID},
	}
	for _, tc := range short {
		if got, err := kr.Open(ctx, tc.ct, aadA); !errors.Is(err, ErrOpen) || got != "" {
			t.Errorf("%s: Open = %q, %v; want ErrOpen", tc.name, got, err)
		}
	}
	for _, aad := range []AAD{
		{Object: "o", Field: "f"},
		{Tenant: "t", Field: "f"},
		{Tenant: "t", Object: "o"},
		{Tenant: "t", Object: "o|p", Field: "f"},
		{Tenant: "t", Object: "o", Field: "f|g"},
	} {
		if _, err := kr.Seal(ctx, "x", aad); err == nil {
			t.Errorf("Seal accepted additional data %+v", aad)
		}
		if _, err := kr.Open(ctx, ct, aad); err == nil || errors.Is(err, ErrOpen) {
			t.Errorf("Open with additional data %+v: %v, want a usage error", aad, err)
		}
	}
}

// TestKeyringDEKLifecycle: the DEK is written on the first seal only, read
// once, and a lost creation race reads the winner's.
func TestKeyringDEKLifecycle(t *testing.T) {
	ctx := context.Background()
	kek := mustKEK(t)

	m := newMem()
	kr := NewKeyring(m, kek)
	if _, err := kr.Open(ctx, "v1:dek-0:AAAA", aadA); err == nil || errors.Is(err, ErrOpen) {
		t.Fatalf("Open before any seal: %v", err)
	}
	if len(m.values) != 0 {
		t.Fatal("Open created a DEK")
	}
	ct, err := kr.Seal(ctx, "s", aadA)
	if err != nil {
		t.Fatal(err)
	}
	reads := m.reads
	for range 3 {
		if _, err := kr.Seal(ctx, "s", aadA); err != nil {
			t.Fatal(err)
		}
		if _, err := kr.Open(ctx, ct, aadA); err != nil {
			t.Fatal(err)
		}
	}
	if m.reads != reads {
		t.Errorf("the keyring read the DEK again %d times", m.reads-reads)
	}
	// Once the DEK is held, a failing database does not stop Open.
	m.readErr = errors.New("database down")
	if got, err := kr.Open(ctx, ct, aadA); err != nil || got != "s" {
		t.Errorf("held DEK: %q, %v", got, err)
	}

	// Lost races: another server created the DEK between our read and
	// our create. The keyring reads theirs.
	winner := newMem()
	first, _ := NewKeyring(winner, kek).Seal(ctx, "theirs", aadA)
	lost := &racing{memSettings: winner, hideReads: 1}
	kr2 := NewKeyring(lost, kek)
	if _, err := kr2.Seal(ctx, "mine", aadA); err != nil {
		t.Fatalf("after a lost race: %v", err)
	}
	if got, err := kr2.Open(ctx, first, aadA); err != nil || got != "theirs" {
		t.Fatalf("the keyring did not adopt the winner's DEK: %q, %v", got, err)
	}
	// Two lost races still succeed; three give up with an error.
	two := &racing{memSettings: newMem(), hideReads: 2}
	two.conflicts = 2
	if _, err := NewKeyring(two, kek).Seal(ctx, "s", aadA); err != nil {
		t.Fatalf("two lost races: %v", err)
	}
	three := newMem()
	three.conflicts = 3
	if _, err := NewKeyring(three, kek).Seal(ctx, "s", aadA); err == nil || !strings.Contains(err.Error(), "could not create or read") {
		t.Fatalf("three lost races: %v", err)
	}

	// Errors of the settings store are returned, not mistaken for "none".
	bad := newMem()
	bad.readErr = errors.New("database down")
	if _, err := NewKeyring(bad, kek).Seal(ctx, "s", aadA); err == nil || !strings.Contains(err.Error(), "database down") {
		t.Errorf("read error: %v", err)
	}
	bad = newMem()
	bad.createErr = errors.New("disk full")
	if _, err := NewKeyring(bad, kek).Seal(ctx, "s", aadA); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("create error: %v", err)
	}
}

// racing hides the setting from the first hideReads reads, as if another
// server created it just after.
type racing struct {
	*memSettings
	hideReads int
}

func (r *racing) Setting(ctx context.Context, name string) (string, error) {
	if r.hideReads > 0 {
		r.hideReads--
		return "", store.ErrNotFound
	}
	return r.memSettings.Setting(ctx, name)
}

func (r *racing) CreateSetting(ctx context.Context, name, value string) error {
	return r.memSettings.CreateSetting(ctx, name, value)
}

// TestStoredDEKDamage: a damaged DEK record is refused with a clear error
// by the keyring and by the rotation, never used.
func TestStoredDEKDamage(t *testing.T) {
	ctx := context.Background()
	kek := mustKEK(t)
	m := newMem()
	if _, err := NewKeyring(m, kek).Seal(ctx, "s", aadA); err != nil {
		t.Fatal(err)
	}
	good := m.values[settingDEK]
	tests := []struct {
		name, record, want string
	}{
		{"not JSON", "{", "malformed"},
		{"unknown version", strings.Replace(good, `"v":1`, `"v":2`, 1), "unknown version 2"},
		{"wrapped not base64", strings.Replace(good, `"wrapped":"`, `"wrapped":"!`, 1), "malformed"},
		{"wrapped truncated", truncateWrapped(t, good), "does not unwrap"},
		{"other DEK id", strings.Replace(good, `"dek_id":"dek-`, `"dek_id":"dek-0`, 1), "does not unwrap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMem()
			st.values[settingDEK] = tt.record
			_, err := NewKeyring(st, kek).Seal(ctx, "s", aadA)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Seal: %v, want %q", err, tt.want)
			}
			if err := RotateKEK(ctx, st, kek, mustKEK(t)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("RotateKEK: %v, want %q", err, tt.want)
			}
			if st.values[settingDEK] != tt.record {
				t.Error("a damaged record was overwritten")
			}
		})
	}
}

func truncateWrapped(t *testing.T, record string) string {
	t.Helper()
	i := strings.Index(record, `"wrapped":"`) + len(`"wrapped":"`)
	j := strings.Index(record[i:], `"`) + i
	raw, err := base64.StdEncoding.DecodeString(record[i:j])
	if err != nil {
		t.Fatal(err)
	}
	return record[:i] + base64.StdEncoding.EncodeToString(raw[:len(raw)-1]) + record[j:]
}

func TestRotateKEKFailures(t *testing.T) {
	ctx := context.Background()
	oldK, newK := mustKEK(t), mustKEK(t)
	setup := func() *memSettings {
		m := newMem()
		if _, err := NewKeyring(m, oldK).Seal(ctx, "s", aadA); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := setup()
	m.readErr = errors.New("database down")
	if err := RotateKEK(ctx, m, oldK, newK); err == nil || !strings.Contains(err.Error(), "database down") {
		t.Errorf("read error: %v", err)
	}
	m = setup()
	m.swapErr = store.ErrConflict
	if err := RotateKEK(ctx, m, oldK, newK); err == nil || !strings.Contains(err.Error(), "run it again") {
		t.Errorf("a concurrent change: %v", err)
	}
	m = setup()
	m.swapErr = errors.New("disk full")
	if err := RotateKEK(ctx, m, oldK, newK); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("swap error: %v", err)
	}
	// Already rotated, but the record under next's id does not unwrap
	// with next: refused, not reported as done.
	m = setup()
	if err := RotateKEK(ctx, m, oldK, newK); err != nil {
		t.Fatal(err)
	}
	forged := KEK{id: newK.ID(), key: oldK.key}
	if err := RotateKEK(ctx, m, oldK, forged); err == nil || !strings.Contains(err.Error(), "does not unwrap") {
		t.Errorf("rotation to a KEK with a forged id: %v", err)
	}
	if err := RotateKEK(ctx, m, oldK, newK); err != nil {
		t.Errorf("second rotation: %v", err)
	}
}

func TestParseKEK(t *testing.T) {
	k := mustKEK(t)
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"base64", k.Encode(), true},
		{"with spaces and newline", "  " + k.Encode() + "\n", true},
		{"31 bytes", base64.StdEncoding.EncodeToString(make([]byte, 31)), false},
		{"33 bytes", base64.StdEncoding.EncodeToString(make([]byte, 33)), false},
		{"not base64", "%%%", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		got, err := ParseKEK(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v", tt.name, err)
			continue
		}
		if tt.ok && (got.ID() != k.ID() || got.Encode() != k.Encode()) {
			t.Errorf("%s: %s, want %s", tt.name, got.ID(), k.ID())
		}
	}
	if _, err := ParseKEK(base64.StdEncoding.EncodeToString(make([]byte, 16))); err == nil || !strings.Contains(err.Error(), "is 16") {
		t.Errorf("the length error should give the length: %v", err)
	}
	if id := k.ID(); !strings.HasPrefix(id, "kek-") || len(id) != len("kek-")+16 || k.String() != id {
		t.Errorf("KEK id %q, String %q", id, k.String())
	}
	other := mustKEK(t)
	if other.ID() == k.ID() {
		t.Error("two random KEKs share an id")
	}
	if len(k.key) != 32 {
		t.Errorf("NewKEK made %d bytes", len(k.key))
	}
	if NewKeyring(nil, k).KEKID() != k.ID() {
		t.Error("KEKID is not the KEK's id")
	}
}

// TestGeneratedKEKFile: the generated KEK lives in a private directory, and
// a KEK that could not be written is an error, never a key used once and
// lost (the next start would generate another, and nothing sealed would
// open).
func TestGeneratedKEKFile(t *testing.T) {
	env := func(string) string { return "" }
	dir := filepath.Join(t.TempDir(), "new", "data")
	if _, origin, err := LoadKEK(dir, env); err != nil || !origin.Generated {
		t.Fatalf("LoadKEK: %+v, %v", origin, err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v, %v; want mode 0700", fi, err)
	}
	// A data directory that is a dangling link: the KEK is not there and
	// cannot be written there.
	dangling := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(filepath.Join(t.TempDir(), "gone", "data"), dangling); err != nil {
		t.Fatal(err)
	}
	if k, origin, err := LoadKEK(dangling, env); err == nil {
		t.Errorf("LoadKEK(dangling link) = %s, %+v; the KEK could not be stored", k, origin)
	}
	// A data directory that cannot be made (in /proc, even for root): the
	// generated KEK could not be stored, so LoadKEK fails.
	if _, err := os.Stat("/proc/self"); err == nil {
		if k, origin, err := LoadKEK("/proc/self/sluice-data", env); err == nil {
			t.Errorf("LoadKEK(/proc/self/sluice-data) = %s, %+v; the KEK could not be stored", k, origin)
		}
	}
	// A KEK file that holds no KEK is an error naming it, never replaced
	// nor read as an empty key.
	garbage := filepath.Join(t.TempDir(), KEKFileName)
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir string
		env func(string) string
	}{
		{filepath.Dir(garbage), env},
		{t.TempDir(), func(k string) string {
			if k == EnvKEKFile {
				return garbage
			}
			return ""
		}},
	} {
		if k, _, err := LoadKEK(tc.dir, tc.env); err == nil || !strings.Contains(err.Error(), garbage) {
			t.Errorf("a KEK file without a key: %s, %v", k, err)
		}
	}
	if b, _ := os.ReadFile(garbage); string(b) != "not a key\n" {
		t.Error("a KEK file without a key was overwritten")
	}
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(blocker, "data"), blocker} {
		if k, origin, err := LoadKEK(d, env); err == nil {
			t.Errorf("LoadKEK(%s) = %s, %+v; the KEK could not be stored", d, k, origin)
		}
		if err := WriteKEKFile(filepath.Join(d, KEKFileName), mustKEK(t)); err == nil {
			t.Errorf("WriteKEKFile under %s succeeded", d)
		}
	}
}

// TestKeyringRefusesUnusableKeys: a DEK that is not 256 bits, a KEK that
// is not a key, and a ciphertext without the format's version are refused;
// the stored DEK is never replaced by something unusable.
func TestKeyringRefusesUnusableKeys(t *testing.T) {
	ctx := context.Background()
	kek := mustKEK(t)

	// A record that authenticates under the KEK but holds a 128-bit DEK.
	short, err := wrap(kek, "dek-short", make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	m := newMem()
	m.values[settingDEK] = short
	if _, err := NewKeyring(m, kek).Seal(ctx, "s", aadA); err == nil || !strings.Contains(err.Error(), "does not unwrap") {
		t.Errorf("a 128-bit DEK was used: %v", err)
	}

	// The zero KEK (never parsed nor generated) seals nothing and stores
	// no DEK.
	m = newMem()
	if _, err := NewKeyring(m, KEK{}).Seal(ctx, "s", aadA); err == nil {
		t.Error("a keyring without a KEK sealed")
	}
	if len(m.values) != 0 {
		t.Errorf("a keyring without a KEK stored %v", m.values)
	}

	// Rotating to the zero KEK fails and leaves the record as it was.
	m = newMem()
	ct, err := NewKeyring(m, kek).Seal(ctx, "s", aadA)
	if err != nil {
		t.Fatal(err)
	}
	before := m.values[settingDEK]
	if err := RotateKEK(ctx, m, kek, KEK{}); err == nil {
		t.Error("rotation to the zero KEK succeeded")
	}
	if m.values[settingDEK] != before {
		t.Fatal("a failed rotation changed the stored DEK")
	}

	// A sealed payload without "v1:" is not opened as v1.
	kr := NewKeyring(m, kek)
	bare := strings.TrimPrefix(ct, "v1:")
	if got, err := kr.Open(ctx, bare, aadA); !errors.Is(err, ErrOpen) || got != "" {
		t.Errorf("Open without the version: %q, %v", got, err)
	}
	if got, err := kr.Open(ctx, ct, aadA); err != nil || got != "s" {
		t.Errorf("Open: %q, %v", got, err)
	}
}

// TestWriteKEKFileKeepsNoDescriptors: writing KEK files leaves no file or
// directory open behind it.
func TestWriteKEKFileKeepsNoDescriptors(t *testing.T) {
	open := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd here")
		}
		return len(entries)
	}
	dir := t.TempDir()
	before := open()
	for i := range 20 {
		if err := WriteKEKFile(filepath.Join(dir, fmt.Sprintf("kek%d", i)), mustKEK(t)); err != nil {
			t.Fatal(err)
		}
	}
	if after := open(); after > before {
		t.Errorf("%d descriptors left open by 20 writes", after-before)
	}
}
