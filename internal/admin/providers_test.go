package admin_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/secrets"
	"github.com/sluicehq/sluice/internal/store"
)

const token = "test-admin-token-0123456789"

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type stubAdapter struct{ spec provider.Spec }

func (a stubAdapter) Name() string                { return a.spec.Name }
func (a stubAdapter) Protocol() provider.Protocol { return provider.ProtocolOpenAI }
func (a stubAdapter) Timeout() time.Duration      { return a.spec.Timeout }
func (a stubAdapter) Do(context.Context, *provider.Request) (*http.Response, error) {
	return nil, provider.ErrUnsupported
}

// control compiles snapshots the way the server does (internal/app):
// the file, the stored keys, and the stored providers decrypted.
type control struct {
	st    *store.Store
	kr    *secrets.Keyring
	snaps *runtime.Holder

	mu   sync.Mutex // guards file and keys
	file *config.File
	keys map[string]string // provider name → the API key its adapter was built with
}

func (c *control) compile(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys, err := c.st.ListKeys(ctx)
	if err != nil {
		return err
	}
	stored, err := admin.StoredProviders(ctx, c.st, c.kr)
	if err != nil {
		return err
	}
	var units []store.Unit
	for _, kind := range []string{store.KindOrg, store.KindTeam, store.KindApp} {
		us, err := c.st.ListUnits(ctx, kind, store.UnitFilter{})
		if err != nil {
			return err
		}
		units = append(units, us...)
	}
	prev, err := c.st.PreviousHashes(ctx, time.Now())
	if err != nil {
		return err
	}
	built := map[string]string{}
	factory := func(s provider.Spec) (provider.Adapter, error) { built[s.Name] = s.APIKey; return stubAdapter{s}, nil }
	reg := provider.Registry{}
	for _, t := range config.ProviderTypes {
		reg[t] = factory
	}
	snap, err := runtime.Compile(runtime.Inputs{File: c.file, StoredKeys: keys, StoredProviders: stored, Registry: reg,
		Units: units, PreviousHashes: prev,
		Provider: func(p config.Provider) provider.Spec {
			return provider.Spec{Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIKey: p.APIKey, Headers: p.Headers}
		}})
	if err != nil {
		return err
	}
	c.snaps.Store(snap)
	c.keys = built
	return nil
}

func (c *control) Reload(ctx context.Context) error      { return c.compile(ctx) }
func (c *control) RefreshKeys(ctx context.Context) error { return c.compile(ctx) }

func (c *control) builtKey(name string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.keys[name]
	return k, ok
}

func (c *control) setFile(f *config.File) { c.mu.Lock(); c.file = f; c.mu.Unlock() }

type env struct {
	t    *testing.T
	url  string
	dir  string // the SQLite data directory
	st   *store.Store
	kr   *secrets.Keyring
	ctl  *control
	logs *syncBuffer
	// seen collects every response (status line, headers, body) for leak
	// scans; auditJSON is the audit log read when the store was closed.
	mu        sync.Mutex
	seen      bytes.Buffer
	auditJSON []byte
	closed    bool
}

// close reads the audit log for the leak scan, then closes the store, which
// checkpoints SQLite's WAL into the main file.
func (e *env) close() {
	e.t.Helper()
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return
	}
	b, _ := json.Marshal(e.audit())
	e.mu.Lock()
	e.auditJSON, e.closed = b, true
	e.mu.Unlock()
	e.st.Close()
}

func fileConfig() *config.File {
	return &config.File{Version: 1, Providers: []config.Provider{{Name: "file-p", Type: "openai", BaseURL: "https://file.example/v1", APIKey: "sk-file-provider-key"}},
		Models: []config.Model{{Name: "m", Targets: []config.Target{{Provider: "file-p", Model: "x"}}}}}
}

func newEnv(t *testing.T) *env { t.Helper(); return newEnvOpts(t, nil) }

// newEnvOpts is newEnv with a hook on the admin API's options, which gets
// the server's URL.
func newEnvOpts(t *testing.T, hook func(o *admin.Options, url string)) *env {
	t.Helper()
	return newEnvOn(t, "", hook)
}

// newEnvOn is newEnvOpts on the PostgreSQL database dsn ("" for SQLite).
func newEnvOn(t *testing.T, dsn string, hook func(o *admin.Options, url string)) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, err := secrets.NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	kr := secrets.NewKeyring(st, kek)
	snaps := &runtime.Holder{}
	ctl := &control{st: st, kr: kr, snaps: snaps, file: fileConfig()}
	if err := ctl.compile(context.Background()); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	mux := http.NewServeMux()
	var n int
	var nmu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nmu.Lock()
		n++
		w.Header().Set("X-Request-Id", fmt.Sprintf("req-%d", n))
		nmu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	opts := admin.Options{Store: st, Control: ctl, Snapshots: snaps, TokenHash: auth.HashKey(token), Secrets: kr,
		Health: route.NewRegistry(route.HealthOptions{}), Logger: slog.New(slog.NewTextHandler(logs, nil))}
	if hook != nil {
		hook(&opts, srv.URL)
	}
	admin.New(opts).Register(mux)
	return &env{t: t, url: srv.URL, dir: dir, st: st, kr: kr, ctl: ctl, logs: logs}
}

type resp struct {
	code int
	etag string
	body map[string]any
	raw  string
}

func (e *env) do(method, path, body string, hdr ...string) resp {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	e.mu.Lock()
	fmt.Fprintf(&e.seen, "%s %s -> %d %v\n%s\n", method, path, res.StatusCode, res.Header, b)
	e.mu.Unlock()
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp{code: res.StatusCode, etag: res.Header.Get("ETag"), body: m, raw: string(b)}
}

func (e *env) audit() []map[string]any {
	e.t.Helper()
	r := e.do("GET", "/admin/v1/audit?limit=1000", "")
	if r.code != 200 {
		e.t.Fatalf("audit: %d %s", r.code, r.raw)
	}
	var out []map[string]any
	for _, d := range r.body["data"].([]any) {
		out = append(out, d.(map[string]any))
	}
	return out
}

func canary(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// leaks returns where any needle (and its SHA-256 hex) appears: the
// responses seen, the logs, the audit rows and every file of the database.
func (e *env) leaks(needles ...string) []string {
	e.t.Helper()
	var all []string
	for _, n := range needles {
		sum := sha256.Sum256([]byte(n))
		all = append(all, n, hex.EncodeToString(sum[:]))
	}
	e.close()
	e.mu.Lock()
	auditJSON := e.auditJSON
	sources := map[string][]byte{"responses": bytes.Clone(e.seen.Bytes()), "logs": []byte(e.logs.String()), "audit rows": auditJSON}
	e.mu.Unlock()
	_ = filepath.WalkDir(e.dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			sources["file "+filepath.Base(path)] = b
		}
		return nil
	})
	var hits []string
	for where, b := range sources {
		for _, n := range all {
			if bytes.Contains(b, []byte(n)) {
				hits = append(hits, fmt.Sprintf("%s contains %q", where, n))
			}
		}
	}
	return hits
}

// S3 and S10: a provider key goes in and never comes out, through any API
// response, log line, audit row or byte of the database.
func TestProviderKeyNeverLeaks(t *testing.T) {
	e := newEnv(t)
	key1, key2 := canary("sk-CANARY-PROV-"), canary("sk-CANARY-PROV-")

	r := e.do("POST", "/admin/v1/providers", `{"name":"openai-main","type":"openai","base_url":"https://api.example.com/v1",
		"api_key":"`+key1+`","headers":{"X-Team":"a"},"timeouts":{"total":"30s"},"retry_on":[429,503]}`)
	if r.code != 201 || r.etag != `"1"` || r.body["api_key_last4"] != key1[len(key1)-4:] || r.body["has_api_key"] != true ||
		r.body["version"] != float64(1) || r.body["source"] != "api" {
		t.Fatalf("create: %d %s %s", r.code, r.etag, r.raw)
	}
	id := r.body["id"].(string)
	if k, ok := e.ctl.builtKey("openai-main"); !ok || k != key1 {
		t.Fatalf("the snapshot's adapter got key %q (present %v), want the decrypted key", k, ok)
	}

	for _, path := range []string{"/admin/v1/providers", "/admin/v1/providers/" + id, "/admin/v1/providers/openai-main"} {
		if r := e.do("GET", path, ""); r.code != 200 {
			t.Fatalf("GET %s: %d %s", path, r.code, r.raw)
		}
	}
	if r := e.do("GET", "/admin/v1/providers/"+id, ""); r.etag != `"1"` || r.body["timeouts"].(map[string]any)["total"] != "30s" {
		t.Fatalf("GET one: %s %s", r.etag, r.raw)
	}

	// Update the URL (no key change), then the key.
	r = e.do("PATCH", "/admin/v1/providers/"+id, `{"base_url":"https://api2.example.com/v1"}`, "If-Match", `"1"`)
	if r.code != 200 || r.etag != `"2"` || r.body["base_url"] != "https://api2.example.com/v1" || r.body["api_key_last4"] != key1[len(key1)-4:] {
		t.Fatalf("patch url: %d %s %s", r.code, r.etag, r.raw)
	}
	if k, _ := e.ctl.builtKey("openai-main"); k != key1 {
		t.Fatal("a patch without api_key lost the key")
	}
	r = e.do("PATCH", "/admin/v1/providers/"+id, `{"api_key":"`+key2+`"}`, "If-Match", `"2"`)
	if r.code != 200 || r.etag != `"3"` || r.body["api_key_last4"] != key2[len(key2)-4:] {
		t.Fatalf("patch key: %d %s", r.code, r.raw)
	}
	if k, _ := e.ctl.builtKey("openai-main"); k != key2 {
		t.Fatal("the new key did not reach the snapshot")
	}

	// Error paths that carry the key must not echo it.
	for _, body := range []string{
		`{"name":"bad-type","type":"nonsense","api_key":"` + key1 + `"}`,
		`{"name":"bad-url","type":"openai","base_url":"ftp://x","api_key":"` + key1 + `"}`,
		`{"name":"hdr","type":"openai","base_url":"https://x.example","headers":{"Authorization":"Bearer ` + key1 + `"}}`,
		`{"name":"openai-main","type":"openai","base_url":"https://x.example","api_key":"` + key1 + `"}`,
		`{"name":"ctl","type":"openai","base_url":"https://x.example","api_key":"` + key1 + "\\n" + `"}`,
		`{"name":"num","type":"openai","base_url":"https://x.example","api_key":42}`,
		`{"name":"x","type":"openai","api_key":"` + key1 + `",`,
	} {
		if r := e.do("POST", "/admin/v1/providers", body); r.code != 400 && r.code != 409 {
			t.Fatalf("bad create accepted: %d %s", r.code, r.raw)
		}
	}
	if r := e.do("PATCH", "/admin/v1/providers/"+id, `{"api_key":"`+key1+`"}`, "If-Match", `"1"`); r.code != 412 {
		t.Fatalf("stale If-Match: %d %s", r.code, r.raw)
	}

	if r := e.do("DELETE", "/admin/v1/providers/"+id, "", "If-Match", `"3"`); r.code != 200 {
		t.Fatalf("delete: %d %s", r.code, r.raw)
	}
	if _, ok := e.ctl.builtKey("openai-main"); ok {
		t.Fatal("the deleted provider is still in the snapshot")
	}
	if r := e.do("GET", "/admin/v1/providers/"+id, ""); r.code != 404 {
		t.Fatalf("GET after delete: %d", r.code)
	}

	// The audit rows name the key only by its last four characters.
	rows := e.audit()
	if len(rows) != 4 {
		t.Fatalf("audit rows: %d, want 4 (create, 2 updates, delete)", len(rows))
	}
	if after, _ := json.Marshal(rows[1]["after"]); !strings.Contains(string(after), `"api_key":"…`+key2[len(key2)-4:]+`"`) {
		t.Fatalf("key update audit row: %s", after)
	}

	if hits := e.leaks(key1, key2); len(hits) > 0 {
		t.Fatalf("the provider key leaked:\n%s", strings.Join(hits, "\n"))
	}
	// The scan is real: it finds what is there.
	if hits := e.leaks("openai-main", "…"+key2[len(key2)-4:]); len(hits) == 0 {
		t.Fatal("the leak scan finds nothing at all; it cannot be trusted")
	}
}

// S5: a virtual key is stored only as its hash and display prefix.
func TestVirtualKeyStoredOnlyAsHash(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/admin/v1/keys", `{"name":"k1","models":["m"]}`)
	key, _ := r.body["key"].(string)
	if r.code != 201 || key == "" {
		t.Fatalf("create key: %d %s", r.code, r.raw)
	}
	e.mu.Lock()
	e.seen.Reset() // the one response that shows the key
	e.mu.Unlock()
	e.do("GET", "/admin/v1/keys", "")
	e.do("DELETE", "/admin/v1/keys/k1", "")
	sum := sha256.Sum256([]byte(key))
	hits := e.leaks(key)
	for _, h := range hits {
		// The hash may live only in the keys table, never in responses or audit rows.
		if !strings.HasPrefix(h, "file ") || !strings.Contains(h, hex.EncodeToString(sum[:])) {
			t.Errorf("leak: %s", h)
		}
	}
	if len(hits) == 0 {
		t.Fatal("the key's hash is not in the database: the scan cannot be trusted")
	}
}

// Writable fields are allow-listed: the server's fields cannot be set.
func TestProviderMassAssignmentRejected(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/admin/v1/providers", `{"name":"p","type":"openai","base_url":"https://a.example/v1","api_key":"sk-0123456789abcdef"}`)
	if r.code != 201 {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	id := r.body["id"].(string)
	for _, body := range []string{
		`{"name":"q","type":"openai","base_url":"https://a.example/v1","id":"prv_mine"}`,
		`{"name":"q","type":"openai","base_url":"https://a.example/v1","version":7}`,
		`{"name":"q","type":"openai","base_url":"https://a.example/v1","api_key_last4":"abcd"}`,
		`{"name":"q","type":"openai","base_url":"https://a.example/v1","created_at":"2020-01-01T00:00:00Z"}`,
		`{"name":"q","type":"openai","base_url":"https://a.example/v1","source":"config"}`,
		`{"name":"q","type":"openai","base_url":"https://a.example/v1","timeouts":{"total":"1s","evil":1}}`,
	} {
		if r := e.do("POST", "/admin/v1/providers", body); r.code != 400 {
			t.Fatalf("POST %s: %d %s", body, r.code, r.raw)
		}
	}
	for _, body := range []string{`{"version":9}`, `{"id":"prv_other"}`, `{"api_key_last4":"zzzz"}`, `{"updated_at":"2020-01-01T00:00:00Z"}`, `{"name":null}`} {
		if r := e.do("PATCH", "/admin/v1/providers/"+id, body); r.code != 400 {
			t.Fatalf("PATCH %s: %d %s", body, r.code, r.raw)
		}
	}
	got := e.do("GET", "/admin/v1/providers/"+id, "")
	if got.body["version"] != float64(1) || got.body["api_key_last4"] != "cdef" || got.body["name"] != "p" || got.body["id"] != id {
		t.Fatalf("after rejected writes: %s", got.raw)
	}
	if n := len(e.audit()); n != 1 {
		t.Fatalf("rejected writes left audit rows: %d, want 1", n)
	}
}

// The configuration file's providers are read-only; a stored provider a
// file model targets cannot be deleted or renamed from under it.
func TestFileProvidersReadOnlyAndReferences(t *testing.T) {
	e := newEnv(t)
	if r := e.do("POST", "/admin/v1/providers", `{"name":"file-p","type":"openai","base_url":"https://a.example/v1"}`); r.code != 409 {
		t.Fatalf("create with a file provider's name: %d %s", r.code, r.raw)
	}
	for _, m := range []string{"PATCH", "DELETE"} {
		if r := e.do(m, "/admin/v1/providers/file-p", `{"base_url":"https://b.example/v1"}`); r.code != 409 || r.body["error"].(map[string]any)["code"] != "read_only" {
			t.Fatalf("%s a file provider: %d %s", m, r.code, r.raw)
		}
	}
	if r := e.do("GET", "/admin/v1/providers/file-p", ""); r.code != 200 || r.body["read_only"] != true || r.body["source"] != "config" {
		t.Fatalf("GET a file provider: %d %s", r.code, r.raw)
	}
	list := e.do("GET", "/admin/v1/providers", "")
	if !strings.Contains(list.raw, `"file-p"`) || strings.Contains(list.raw, "sk-file-provider-key") {
		t.Fatalf("list: %s", list.raw)
	}

	r := e.do("POST", "/admin/v1/providers", `{"name":"shared","type":"anthropic","base_url":"https://a.example","api_key":"sk-ant-0123456789"}`)
	if r.code != 201 {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	id := r.body["id"].(string)
	f := fileConfig()
	f.Models = append(f.Models, config.Model{Name: "uses-shared", Targets: []config.Target{{Provider: "shared", Model: "claude"}}})
	e.ctl.setFile(f)
	if r := e.do("POST", "/admin/v1/reload", ""); r.code != 200 {
		t.Fatalf("reload: %d %s", r.code, r.raw)
	}
	if r := e.do("DELETE", "/admin/v1/providers/"+id, ""); r.code != 409 || !strings.Contains(r.raw, "uses-shared") {
		t.Fatalf("delete a provider in use: %d %s", r.code, r.raw)
	}
	if r := e.do("PATCH", "/admin/v1/providers/"+id, `{"name":"renamed"}`); r.code != 409 {
		t.Fatalf("rename a provider in use: %d %s", r.code, r.raw)
	}
	if r := e.do("PATCH", "/admin/v1/providers/shared", `{"api_key":"sk-ant-9876543210"}`); r.code != 200 || r.etag != `"2"` {
		t.Fatalf("rotate the key of a provider in use (by name, no If-Match): %d %s", r.code, r.raw)
	}
	if k, _ := e.ctl.builtKey("shared"); k != "sk-ant-9876543210" {
		t.Fatalf("the model's provider was not rebuilt with the new key: %q", k)
	}
	if r := e.do("DELETE", "/admin/v1/providers/"+id, "", "If-Match", `"1"`); r.code != 412 {
		t.Fatalf("delete with a stale If-Match: %d %s", r.code, r.raw)
	}
}

// S9: one audit row per change, with actor, tenant, request id and
// address; nothing else writes one, and no API changes them.
func TestAuditOneRowPerChange(t *testing.T) {
	e := newEnv(t)
	steps := []struct {
		method, path, body string
		code               int
		action             string // "" for a request that changes nothing
	}{
		{"POST", "/admin/v1/keys", `{"name":"k1"}`, 201, "key.create"},
		{"POST", "/admin/v1/keys", `{"name":"k1"}`, 409, ""},
		{"DELETE", "/admin/v1/keys/k1", "", 200, "key.revoke"},
		{"DELETE", "/admin/v1/keys/k1", "", 200, ""}, // already revoked
		{"POST", "/admin/v1/reload", "", 200, "config.reload"},
		{"POST", "/admin/v1/providers", `{"name":"p1","type":"gemini","base_url":"https://g.example","api_key":"AIza0123456789abcdef"}`, 201, "provider.create"},
		{"POST", "/admin/v1/providers", `{"name":"p1","type":"gemini","base_url":"https://g.example"}`, 409, ""},
		{"PATCH", "/admin/v1/providers/p1", `{"region":"eu"}`, 200, "provider.update"},
		{"PATCH", "/admin/v1/providers/p1", `{"region":"us"}`, 412, ""},
		{"DELETE", "/admin/v1/providers/p1", "", 200, "provider.delete"},
		{"DELETE", "/admin/v1/providers/p1", "", 404, ""},
		{"GET", "/admin/v1/providers", "", 200, ""},
		{"GET", "/admin/v1/keys", "", 200, ""},
	}
	var want []string
	for _, s := range steps {
		var hdr []string
		if s.code == 412 {
			hdr = []string{"If-Match", `"1"`}
		}
		if r := e.do(s.method, s.path, s.body, hdr...); r.code != s.code {
			t.Fatalf("%s %s: %d %s, want %d", s.method, s.path, r.code, r.raw, s.code)
		}
		if s.action != "" {
			want = append([]string{s.action}, want...)
		}
	}
	rows := e.audit()
	var got []string
	for _, row := range rows {
		got = append(got, row["action"].(string))
		if row["actor"] != "bootstrap-token" || row["tenant"] != "" || row["ip"] != "127.0.0.1" ||
			!strings.HasPrefix(row["request_id"].(string), "req-") || row["object_id"] == "" {
			t.Errorf("row lacks who/where: %v", row)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit actions (newest first) = %v\nwant %v", got, want)
	}
	if b, _ := json.Marshal(rows); strings.Contains(string(b), "AIza0123456789abcdef") || strings.Contains(string(b), `"hash"`) {
		t.Fatalf("an audit row holds a secret: %s", b)
	}

	// No route writes over the log.
	auditID := rows[0]["id"].(string)
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		for _, path := range []string{"/admin/v1/audit", "/admin/v1/audit/" + auditID} {
			if r := e.do(m, path, `{"actor":"someone-else","action":"x"}`); r.code < 400 {
				t.Fatalf("%s %s: %d", m, path, r.code)
			}
		}
	}
	if after := e.audit(); len(after) != len(rows) || after[0]["actor"] != "bootstrap-token" {
		t.Fatalf("the audit log changed: %v", after)
	}
	if r := e.do("GET", "/admin/v1/audit?limit=0", ""); r.code != 400 {
		t.Fatalf("limit=0: %d", r.code)
	}
	if r := e.do("GET", "/admin/v1/audit?limit=2&object_type=provider", ""); r.code != 200 || len(r.body["data"].([]any)) != 2 {
		t.Fatalf("filtered audit: %s", r.raw)
	}
}

// S10: ciphertexts swapped between two rows open for neither.
func TestSwappedCiphertextsDoNotOpen(t *testing.T) {
	e := newEnv(t)
	keyA, keyB := canary("sk-CANARY-PROV-"), canary("sk-CANARY-PROV-")
	ids := map[string]string{}
	for name, key := range map[string]string{"pa": keyA, "pb": keyB} {
		r := e.do("POST", "/admin/v1/providers", `{"name":"`+name+`","type":"openai","base_url":"https://x.example/v1","api_key":"`+key+`"}`)
		if r.code != 201 {
			t.Fatalf("create %s: %d %s", name, r.code, r.raw)
		}
		ids[name] = r.body["id"].(string)
	}
	ctx := context.Background()
	if ps, err := admin.StoredProviders(ctx, e.st, e.kr); err != nil || len(ps) != 2 {
		t.Fatalf("before the swap: %v %v", ps, err)
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.dir, "sluice.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ctA, ctB string
	if err := db.QueryRow(`SELECT api_key_ciphertext FROM providers WHERE id = $1`, ids["pa"]).Scan(&ctA); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT api_key_ciphertext FROM providers WHERE id = $1`, ids["pb"]).Scan(&ctB); err != nil {
		t.Fatal(err)
	}
	for id, ct := range map[string]string{ids["pa"]: ctB, ids["pb"]: ctA} {
		if _, err := db.Exec(`UPDATE providers SET api_key_ciphertext = $1 WHERE id = $2`, ct, id); err != nil {
			t.Fatal(err)
		}
	}
	// Each ciphertext still opens in its own place: only the move breaks it.
	for id, ct := range map[string]string{ids["pa"]: ctA, ids["pb"]: ctB} {
		if _, err := e.kr.Open(ctx, ct, secrets.AAD{Tenant: admin.Tenant, Object: id, Field: "api_key"}); err != nil {
			t.Fatalf("control: %v", err)
		}
	}

	_, err = admin.StoredProviders(ctx, e.st, e.kr)
	if !errors.Is(err, secrets.ErrOpen) || !strings.Contains(err.Error(), `"pa"`) || !strings.Contains(err.Error(), `"pb"`) {
		t.Fatalf("after the swap: %v; want both providers to fail to open", err)
	}
	if strings.Contains(err.Error(), keyA) || strings.Contains(err.Error(), keyB) {
		t.Fatal("the error shows a key")
	}
	// The running snapshot stays; a refresh is refused.
	if r := e.do("POST", "/admin/v1/reload", ""); r.code != 422 {
		t.Fatalf("reload with swapped ciphertexts: %d %s", r.code, r.raw)
	}
	if k, _ := e.ctl.builtKey("pa"); k != keyA {
		t.Fatal("the running snapshot was replaced")
	}
	db.Close()
	if hits := e.leaks(keyA, keyB); len(hits) > 0 {
		t.Fatalf("leak: %v", hits)
	}
}
