// Package e2e drives the built sluice binary as a user would: real SDK clients on one
// side, the OpenAI fake (internal/fakeprovider/openai) on the other, the ledger read
// back through the admin API. Run it with `make e2e` or `cd e2e && go test ./...`.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
)

var keepData = flag.Bool("keep", false, "keep the temp dir with the binary, configs, databases and gateway logs")

// Suite-wide state, set up by TestMain.
var (
	workDir  string // temp dir: binary, configs, data dirs
	binPath  string // the built gateway
	buildErr error  // why the gateway could not be built, if it could not

	// Canary secrets, planted everywhere and grepped for afterwards.
	provKey    = "sk-CANARY-PROV-" + randHex(8)
	adminToken = "CANARY-ADM-" + randHex(8)
	devKey     = "gw-test-CANARY-dev-" + randHex(8)
	allKey     = "gw-test-CANARY-all-" + randHex(8)
	probeKey   = "gw-test-CANARY-probe-" + randHex(8)

	// The fake upstream shared by every gateway of the suite.
	fake    *openaifake.Server
	fakeURL string // base URL, ending in /v1
)

// Prices of the configured models, per million tokens.
type pricing struct{ input, output, cached float64 }

var prices = map[string]pricing{
	"chat-small":  {0.15, 0.60, 0.075},
	"chat-other":  {1.00, 2.00, 0.50},
	"embed-small": {0.02, 0, 0},
	// The protocols gateway's models (protocols_test.go).
	"m-openai":    {0.15, 0.60, 0.075},
	"m-anthropic": {3.00, 15.00, 0.30},
	"m-bedrock":   {3.00, 15.00, 0.30},
	"m-gemini":    {0.30, 2.50, 0.075},
}

func TestMain(m *testing.M) {
	flag.Parse()
	var err error
	workDir, err = os.MkdirTemp("", "sluice-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath, buildErr = buildGateway(workDir)
	if buildErr != nil {
		fmt.Fprintf(os.Stderr, "e2e: cannot build the gateway: %v\n", buildErr)
	}
	fake = openaifake.New(openaifake.Options{APIKey: provKey})
	ts := httptest.NewServer(fake)
	fakeURL = ts.URL + "/v1"

	code := m.Run()

	stopSharedGateway()
	stopProtocolsGateway()
	fake.Close()
	ts.CloseClientConnections()
	ts.Close()
	if *keepData {
		fmt.Fprintf(os.Stderr, "e2e: kept %s\n", workDir)
	} else {
		os.RemoveAll(workDir)
	}
	os.Exit(code)
}

// buildGateway builds ./cmd/sluice of the repository into dir, or uses the binary
// named by SLUICE_E2E_BINARY.
func buildGateway(dir string) (string, error) {
	if bin := os.Getenv("SLUICE_E2E_BINARY"); bin != "" {
		return filepath.Abs(bin)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sluice")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/sluice: %w\n%s", err, out)
	}
	return bin, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// configYAML is the gateway config of the suite; upstream is the fake's base URL.
func configYAML(upstream string) string {
	return fmt.Sprintf(`version: 1
providers:
  - name: up
    type: openai
    base_url: %s
    api_key: ${UP_KEY}
models:
  - name: chat-small
    targets: [{provider: up, model: fake-model-1}]
    pricing: {input_per_mtok: 0.15, output_per_mtok: 0.60, cached_input_per_mtok: 0.075}
  - name: chat-other
    targets: [{provider: up, model: fake-model-2}]
    pricing: {input_per_mtok: 1.00, output_per_mtok: 2.00, cached_input_per_mtok: 0.50}
  - name: embed-small
    targets: [{provider: up, model: fake-embed-1}]
    pricing: {input_per_mtok: 0.02, output_per_mtok: 0, cached_input_per_mtok: 0}
keys:
  - name: dev
    key: %s
    models: [chat-small, embed-small]
  - name: all
    key: %s
  - name: probe
    key: %s
    models: [chat-small]
`, upstream, devKey, allKey, probeKey)
}

// gateway is one running sluice process.
type gateway struct {
	URL     string // http://127.0.0.1:PORT
	addr    string
	dataDir string
	config  string
	log     *syncBuffer
	// args are extra serve flags (--db, --redis, ...), env extra environment
	// variables (NAME=value); both are set before start.
	args []string
	env  []string

	mu      sync.Mutex // guards cmd and exited
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error // set before exited is closed
}

// syncBuffer is a goroutine-safe buffer for the gateway's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) tail(n int) string {
	s := b.String()
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

// newGateway prepares a gateway with its own data dir and the suite's config; start
// runs it.
func newGateway(name string) (*gateway, error) {
	return newGatewayWithConfig(name, configYAML(fakeURL))
}

// newGatewayWithConfig prepares a gateway with its own data dir and this config.
func newGatewayWithConfig(name, config string) (*gateway, error) {
	if buildErr != nil {
		return nil, fmt.Errorf("gateway binary not built: %w", buildErr)
	}
	dir := filepath.Join(workDir, name)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return nil, err
	}
	return &gateway{dataDir: filepath.Join(dir, "data"), config: cfg, log: &syncBuffer{}}, nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs the gateway and waits until /healthz answers 200; it retries on another
// port when the process dies early (say, because the port was taken meanwhile).
func (g *gateway) start() error {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr, err := freePort()
		if err != nil {
			return err
		}
		if lastErr = g.startOn(addr); lastErr == nil {
			return nil
		}
	}
	return lastErr
}

func (g *gateway) startOn(addr string) error {
	cmd := exec.Command(binPath, append([]string{"serve", "--config", g.config, "--listen", addr, "--data-dir", g.dataDir}, g.args...)...)
	cmd.Env = append(os.Environ(), "SLUICE_ADMIN_TOKEN="+adminToken, "UP_KEY="+provKey, "AWS_SECRET_KEY="+awsSecret)
	cmd.Env = append(cmd.Env, g.env...)
	fmt.Fprintf(g.log, "=== start %s on %s\n", time.Now().Format(time.RFC3339Nano), addr)
	cmd.Stdout = g.log
	cmd.Stderr = g.log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	g.mu.Lock()
	g.cmd, g.exited, g.addr, g.URL = cmd, exited, addr, "http://"+addr
	g.mu.Unlock()
	go func() {
		err := cmd.Wait()
		g.mu.Lock()
		g.waitErr = err
		g.mu.Unlock()
		close(exited)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("gateway exited during start-up (%v); log:\n%s", g.exitErr(), g.log.tail(4000))
		default:
		}
		resp, err := http.Get(g.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.kill()
	return fmt.Errorf("gateway not healthy after 20s; log:\n%s", g.log.tail(4000))
}

func (g *gateway) exitErr() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waitErr
}

// signal sends sig to the process.
func (g *gateway) signal(sig os.Signal) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil || g.cmd.Process == nil {
		return errors.New("not started")
	}
	return g.cmd.Process.Signal(sig)
}

// wait waits for the process to exit and returns its exit code (-1 for a signal).
func (g *gateway) wait(timeout time.Duration) (int, error) {
	g.mu.Lock()
	exited, cmd := g.exited, g.cmd
	g.mu.Unlock()
	select {
	case <-exited:
	case <-time.After(timeout):
		return 0, fmt.Errorf("gateway still running after %v", timeout)
	}
	return cmd.ProcessState.ExitCode(), nil
}

// stop sends SIGTERM and waits for the exit; it kills after 15 s.
func (g *gateway) stop() (int, error) {
	if err := g.signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	code, err := g.wait(15 * time.Second)
	if err != nil {
		g.kill()
	}
	return code, err
}

// kill sends SIGKILL and waits for the exit.
func (g *gateway) kill() {
	if g.signal(syscall.SIGKILL) == nil {
		_, _ = g.wait(10 * time.Second)
	}
}

// startGateway starts a gateway of its own for one test and stops it afterwards.
func startGateway(t *testing.T, name string) *gateway {
	t.Helper()
	g, err := newGateway(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway %s log tail:\n%s", name, g.log.tail(6000))
		}
		g.kill()
	})
	return g
}

var (
	sharedOnce sync.Once
	sharedGW   *gateway
	sharedErr  error
)

// sharedGateway returns the gateway most tests use, started on first use.
func sharedGateway(t *testing.T) *gateway {
	t.Helper()
	sharedOnce.Do(func() {
		sharedGW, sharedErr = newGateway("shared")
		if sharedErr == nil {
			sharedErr = sharedGW.start()
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("shared gateway log tail:\n%s", sharedGW.log.tail(4000))
		}
	})
	return sharedGW
}

func stopSharedGateway() {
	if sharedGW != nil && sharedErr == nil {
		if _, err := sharedGW.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stopping the shared gateway:", err)
		}
	}
}

// LedgerEntry is one row of GET /admin/v1/requests.
type LedgerEntry struct {
	RequestID    string    `json:"request_id"`
	Time         string    `json:"time"`
	Endpoint     string    `json:"endpoint"`
	KeyName      string    `json:"key_name"`
	Model        string    `json:"model"`
	ServedModel  string    `json:"served_model"`
	Provider     string    `json:"provider"`
	Stream       bool      `json:"stream"`
	Status       string    `json:"status"`
	HTTPStatus   int       `json:"http_status"`
	InputTokens  int64     `json:"input_tokens"`
	OutputTokens int64     `json:"output_tokens"`
	CachedTokens int64     `json:"cached_tokens"`
	Estimated    bool      `json:"estimated"`
	CostMicros   int64     `json:"cost_micros"`
	LatencyMs    float64   `json:"latency_ms"`
	TTFTMs       float64   `json:"ttft_ms"`
	Error        string    `json:"error"`
	Attempts     []Attempt `json:"attempts"`
}

// Attempt is one upstream attempt of a ledger entry.
type Attempt struct {
	N          int     `json:"n"`
	Provider   string  `json:"provider"`
	Model      string  `json:"model"`
	Status     string  `json:"status"`
	HTTPStatus int     `json:"http_status"`
	LatencyMs  float64 `json:"latency_ms"`
	Error      string  `json:"error"`
}

// ledger reads the newest limit entries.
func (g *gateway) ledger(limit int) ([]LedgerEntry, error) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/admin/v1/requests?limit=%d", g.URL, limit), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /admin/v1/requests: %d %s", resp.StatusCode, body)
	}
	var list struct {
		Object string        `json:"object"`
		Data   []LedgerEntry `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("GET /admin/v1/requests: %w: %s", err, body)
	}
	if list.Object != "list" {
		return nil, fmt.Errorf(`GET /admin/v1/requests: object %q, want "list"`, list.Object)
	}
	return list.Data, nil
}

// waitEntry polls the ledger until an entry matches (entries are group-committed).
func (g *gateway) waitEntry(t *testing.T, what string, match func(LedgerEntry) bool) LedgerEntry {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		entries, err := g.ledger(500)
		lastErr = err
		for _, e := range entries {
			if match(e) {
				return e
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no ledger entry for %s within 5s (last error: %v)", what, lastErr)
	return LedgerEntry{}
}

// entryByID waits for the ledger entry of a request ID.
func (g *gateway) entryByID(t *testing.T, id string) LedgerEntry {
	t.Helper()
	if id == "" {
		t.Fatal("response has no x-request-id")
	}
	return g.waitEntry(t, "request "+id, func(e LedgerEntry) bool { return e.RequestID == id })
}

// expectedCost is the cost in micro-dollars of e's tokens at model's prices.
func expectedCost(model string, e LedgerEntry) float64 {
	p := prices[model]
	return float64(e.InputTokens-e.CachedTokens)*p.input + float64(e.CachedTokens)*p.cached + float64(e.OutputTokens)*p.output
}

// checkEntry compares the fields of an entry that a test cares about.
type wantEntry struct {
	endpoint, key, model, served, status string
	provider                             string // with served: the provider's name ("up" when empty)
	stream                               bool
	httpStatus                           int
	input, output, cached                int64 // -1: don't check
	estimated                            bool
}

func checkEntry(t *testing.T, e LedgerEntry, w wantEntry) {
	t.Helper()
	var diffs []string
	cmp := func(field string, got, want any) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", field, got, want))
		}
	}
	cmp("endpoint", e.Endpoint, w.endpoint)
	cmp("key_name", e.KeyName, w.key)
	cmp("model", e.Model, w.model)
	cmp("status", e.Status, w.status)
	cmp("http_status", e.HTTPStatus, w.httpStatus)
	cmp("stream", e.Stream, w.stream)
	cmp("estimated", e.Estimated, w.estimated)
	if w.served != "" {
		cmp("served_model", e.ServedModel, w.served)
		provider := w.provider
		if provider == "" {
			provider = "up"
		}
		cmp("provider", e.Provider, provider)
	}
	if w.input >= 0 {
		cmp("input_tokens", e.InputTokens, w.input)
	}
	if w.output >= 0 {
		cmp("output_tokens", e.OutputTokens, w.output)
	}
	if w.cached >= 0 {
		cmp("cached_tokens", e.CachedTokens, w.cached)
	}
	if want := expectedCost(w.model, e); float64(e.CostMicros) < want-1 || float64(e.CostMicros) > want+1 {
		diffs = append(diffs, fmt.Sprintf("cost_micros = %d, want %.3f ± 1", e.CostMicros, want))
	}
	if e.RequestID == "" || e.Time == "" {
		diffs = append(diffs, "request_id or time empty")
	}
	if len(diffs) > 0 {
		raw, _ := json.Marshal(e)
		t.Errorf("ledger entry:\n  %s\n  entry: %s", strings.Join(diffs, "\n  "), raw)
	}
}

// fakeRequest returns the fake's record of the request that satisfies match.
func fakeRequest(t *testing.T, what string, match func(openaifake.Request) bool) openaifake.Request {
	t.Helper()
	r, ok := fake.WaitRequest(5*time.Second, match)
	if !ok {
		t.Fatalf("the upstream never received %s", what)
	}
	return r
}

// withMarker returns a header value unique to one test request, and a matcher for the
// fake's record of it. Tests put it in X-E2e-Marker; the gateway forwards it upstream.
func withMarker() (string, func(openaifake.Request) bool) {
	m := randHex(6)
	return m, func(r openaifake.Request) bool { return r.Header.Get("X-E2e-Marker") == m }
}

// ctxTimeout is a context for one test step.
func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
