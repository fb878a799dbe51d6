package proxy

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/store"
)

// captureSink keeps captures in memory.
type captureSink struct {
	mu sync.Mutex
	cs []Capture
}

func (s *captureSink) Capture(c Capture) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cs = append(s.cs, c)
}

func (s *captureSink) all() []Capture {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Capture(nil), s.cs...)
}

// Canaries: secrets a client might paste into a prompt.
const (
	canarySluiceKey   = "gw-live-CANARYcanaryCANARYcanaryCANARYcanary1234"
	canaryProviderKey = "sk-proj-CANARYcanaryCANARYcanaryCANARY99"
	canaryEmail       = "canary.person@example.com"
)

// TestCaptureRedactsAndLeaksNoSecret: request_log captures the named
// key's requests only, masks personal data and keys in both bodies, cuts
// them at the cap; and no Sluice key or provider key (presented, pasted
// or configured) reaches the captures, the ledger, the logs, the
// database they are stored in or the /metrics scrape.
func TestCaptureRedactsAndLeaksNoSecret(t *testing.T) {
	sink := &captureSink{}
	reg := metrics.NewRegistry()
	var logs bytes.Buffer
	var logMu sync.Mutex
	e := newEnvWith(t, func(o *Options) {
		o.Captures = sink
		o.Metrics = NewMetrics(reg)
		o.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}, func(f *config.File) {
		f.RequestLog = config.RequestLog{Capture: []config.CaptureScope{{Key: "dev"}}, MaxBodyBytes: 4096}
	})
	prompt := "mail " + canaryEmail + " the keys " + canarySluiceKey + " and " + canaryProviderKey
	body := `{"model":"chat-small","messages":[{"role":"user","content":"` + prompt + `"}]}`
	for _, key := range []string{clientKey, limitedKey} {
		res := e.post(t, "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer " + key})
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	// A long request is cut at the cap.
	long := `{"model":"chat-small","messages":[{"role":"user","content":"` + strings.Repeat("é", 3000) + `"}]}`
	res := e.post(t, "/v1/chat/completions", long, map[string]string{"Authorization": "Bearer " + clientKey})
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	entries := e.waitEntries(t, 3)

	cs := sink.all()
	if len(cs) != 2 {
		t.Fatalf("%d captures, want 2 (the dev key's requests only)", len(cs))
	}
	c := cs[0]
	if c.Model != "chat-small" || c.Status != "ok" || c.HTTPStatus != 200 || c.TTL <= 0 || c.RequestID == "" || c.Truncated {
		t.Fatalf("capture %+v", c)
	}
	if !strings.Contains(c.RequestBody, "<EMAIL_") || !strings.Contains(c.RequestBody, `"model":"chat-small"`) ||
		!strings.Contains(c.ResponseBody, "chat.completion") {
		t.Fatalf("bodies not captured or not masked: %q / %q", c.RequestBody, c.ResponseBody)
	}
	if l := cs[1]; !l.Truncated || len(l.RequestBody) > 4096+64 || !strings.HasPrefix(l.RequestBody, `{"model"`) {
		t.Fatalf("long capture: truncated %v, %d bytes", l.Truncated, len(l.RequestBody))
	}

	// The database the captures and the ledger go to.
	dir := t.TempDir()
	st, err := store.OpenSQLite(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if err := st.InsertCapture(context.Background(), store.Capture{RequestID: c.RequestID, Time: c.Time, KeyID: c.KeyID,
			Model: c.Model, Status: c.Status, RequestBody: c.RequestBody, ResponseBody: c.ResponseBody, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.InsertEntries(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
	st.Close()
	var db bytes.Buffer
	files, _ := filepath.Glob(filepath.Join(dir, "sluice.db*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		db.Write(b)
	}
	logMu.Lock()
	logText := logs.String()
	logMu.Unlock()
	var captured strings.Builder
	for _, c := range cs {
		captured.WriteString(c.RequestBody + c.ResponseBody)
	}
	scrape := httptest.NewRecorder()
	reg.Handler().ServeHTTP(scrape, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(scrape.Body.String(), "chat-small") {
		t.Fatalf("the scrape shows no request: %.300s", scrape.Body.String())
	}
	var ledgerText strings.Builder
	for _, en := range entries {
		ledgerText.WriteString(en.Error + en.KeyName + en.KeyID)
	}
	for _, secret := range []string{clientKey, limitedKey, providerKey, canarySluiceKey, canaryProviderKey, canaryEmail} {
		for place, text := range map[string]string{"captures": captured.String(), "logs": logText, "ledger": ledgerText.String(),
			"database": db.String(), "/metrics": scrape.Body.String()} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds %q", place, secret)
			}
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRedactCutsOnARune(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		limit    int
		want     string
		cut      bool
	}{
		{"short", "abc", 10, "abc", false},
		{"cut", "abcdef", 3, "abc", true},
		{"cut inside a rune", "aé", 2, "a", true},
		{"invalid bytes", "a\xffb", 10, "a\uFFFDb", false},
		{"masked", "write to a@b.example", 100, "write to <EMAIL_1>", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := Redact([]byte(tc.in), tc.limit)
			if got != tc.want || cut != tc.cut {
				t.Fatalf("Redact = %q, %v; want %q, %v", got, cut, tc.want, tc.cut)
			}
		})
	}
}
