package e2e

// Governance across real Sluice processes: two nodes share one PostgreSQL
// schema (each test its own) and, where stated, one Redis database (each
// test its own database number), and are driven with openai-go/v3 against
// the suite's OpenAI fake. What is checked is what ADR 004 and ADR 005
// promise a cluster: limits and budgets shared by every node (K2, K5, team
// budgets), spend equal at every level of the hierarchy (K3), one budget
// alert per threshold, and key changes (creation, revocation, rotation)
// reaching every node within about a second (K4), faster with Redis.
//
// The tests need SLUICE_TEST_POSTGRES_DSN (and psql, to make a schema) and,
// for the Redis ones, SLUICE_TEST_REDIS_ADDR: `eval "$(scripts/test-services.sh
// start DIR)"`. Without them they skip, unless SLUICE_TEST_REQUIRE_POSTGRES=1 or
// SLUICE_TEST_REQUIRE_REDIS=1, when they fail.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
)

// Two models on the suite's fake: on cl-micro one input token costs one
// micro-dollar, on cl-cent one cent. With X-Fake-Prompt-Tokens: N and
// X-Fake-Completion-Tokens: 0 a request costs exactly N of them.
const clusterModels = `
  - name: cl-micro
    targets: [{provider: up, model: fake-model-1}]
    pricing: {input_per_mtok: 1, output_per_mtok: 1}
  - name: cl-cent
    targets: [{provider: up, model: fake-model-1}]
    pricing: {input_per_mtok: 10000, output_per_mtok: 10000}
`

const cent = 10_000 // micro-dollars

// clusterConfig is a cluster node's configuration: the suite's fake, the
// cluster models, and the given orgs and keys sections (YAML lists, indented
// by two spaces; "" for none).
func clusterConfig(orgs, keys string) string {
	if strings.TrimSpace(orgs) == "" {
		orgs = "  []\n"
	}
	if strings.TrimSpace(keys) == "" {
		keys = "  []\n"
	}
	return fmt.Sprintf("version: 1\nproviders:\n  - name: up\n    type: openai\n    base_url: %s\n    api_key: ${UP_KEY}\nmodels:%sorgs:\n%skeys:\n%s",
		fakeURL, clusterModels, orgs, keys)
}

// orgYAML declares organisation org with team t and application a, with
// the given limits (YAML mappings, "" for none) at each level.
func orgYAML(org, orgLimits, teamLimits, appLimits string) string {
	lim := func(indent, l string) string {
		if l == "" {
			return ""
		}
		return fmt.Sprintf("%s%s\n", indent, l)
	}
	return fmt.Sprintf("  - name: %s\n%s    teams:\n      - name: t\n%s        applications:\n          - name: a\n%s",
		org, lim("    ", orgLimits), lim("        ", teamLimits), lim("            ", appLimits))
}

// ---- services ----

// serviceEnv returns the variable name's value; without it the test skips,
// or fails when require is "1".
func serviceEnv(t *testing.T, name, require string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv(require) == "1" {
			t.Fatalf("%s is not set but %s=1", name, require)
		}
		t.Skipf("%s is not set (eval \"$(scripts/test-services.sh start DIR)\")", name)
	}
	return v
}

// pgSchema makes a schema of its own for the test on the PostgreSQL server of
// SLUICE_TEST_POSTGRES_DSN, dropped when the test ends, and returns a DSN whose
// search_path is that schema (as internal/store's PostgresForTest does).
func pgSchema(t *testing.T) string {
	t.Helper()
	dsn := serviceEnv(t, "SLUICE_TEST_POSTGRES_DSN", "SLUICE_TEST_REQUIRE_POSTGRES")
	psql, err := exec.LookPath("psql")
	if err != nil {
		if os.Getenv("SLUICE_TEST_REQUIRE_POSTGRES") == "1" {
			t.Fatal("psql is not installed; the cluster tests need it to make a schema")
		}
		t.Skip("psql is not installed; the cluster tests need it to make a schema")
	}
	run := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", sql).CombinedOutput()
		if err != nil {
			return fmt.Errorf("psql %q: %w: %s", sql, err, out)
		}
		return nil
	}
	schema := "e2e_" + randHex(6)
	if err := run("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := run("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Logf("dropping the test schema: %v", err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// respConn is just enough of a Redis client to claim and clean a database.
type respConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialRedis(addr, password string, db int) (*respConn, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	rc := &respConn{c: c, r: bufio.NewReader(c)}
	if password != "" {
		if _, err := rc.do("AUTH", password); err != nil {
			c.Close()
			return nil, err
		}
	}
	if _, err := rc.do("SELECT", strconv.Itoa(db)); err != nil {
		c.Close()
		return nil, err
	}
	return rc, nil
}

func (rc *respConn) do(args ...string) (any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(rc.c, b.String()); err != nil {
		return nil, err
	}
	return rc.read()
}

func (rc *respConn) read() (any, error) {
	line, err := rc.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("redis: empty reply")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, errors.New("redis: " + line[1:])
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rc.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = rc.read(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("redis: unexpected reply %q", line)
}

const redisClaimKey = "sluice-e2e:claim"

// redisDB claims an empty database (1-15) of the Redis server of
// SLUICE_TEST_REDIS_ADDR for the test, so that its limits and budgets share
// nothing with other tests, and returns the redis:// URL that names it. When
// the test ends it deletes what Sluice left there and the claim: nothing else
// (no FLUSHDB on a shared server).
func redisDB(t *testing.T) string {
	t.Helper()
	raw := serviceEnv(t, "SLUICE_TEST_REDIS_ADDR", "SLUICE_TEST_REQUIRE_REDIS")
	addr, password := raw, ""
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("SLUICE_TEST_REDIS_ADDR: %v", err)
		}
		addr = u.Host
		password, _ = u.User.Password()
	}
	owner := "e2e-" + randHex(6)
	db := -1
	for _, n := range rand.Perm(15) {
		rc, err := dialRedis(addr, password, n+1)
		if err != nil {
			if strings.HasPrefix(err.Error(), "redis: ") {
				continue // no such database
			}
			t.Fatalf("redis %s: %v", addr, err)
		}
		size, err := rc.do("DBSIZE")
		if err == nil && size == int64(0) {
			var ok any
			ok, err = rc.do("SET", redisClaimKey, owner, "NX", "EX", "900")
			if ok == "OK" {
				db = n + 1
			}
		}
		rc.c.Close()
		if err != nil {
			t.Fatalf("redis %s: %v", addr, err)
		}
		if db > 0 {
			break
		}
	}
	if db < 0 {
		t.Fatalf("redis %s: no empty database among 1-15 to claim", addr)
	}
	t.Cleanup(func() {
		rc, err := dialRedis(addr, password, db)
		if err != nil {
			t.Logf("cleaning redis db %d: %v", db, err)
			return
		}
		defer rc.c.Close()
		cursor := "0"
		for {
			v, err := rc.do("SCAN", cursor, "MATCH", "sluice:*", "COUNT", "1000")
			arr, ok := v.([]any)
			if err != nil || !ok || len(arr) != 2 {
				t.Logf("cleaning redis db %d: SCAN: %v %v", db, v, err)
				return
			}
			cursor, _ = arr[0].(string)
			if keys, _ := arr[1].([]any); len(keys) > 0 {
				args := []string{"DEL"}
				for _, k := range keys {
					s, _ := k.(string)
					args = append(args, s)
				}
				if _, err := rc.do(args...); err != nil {
					t.Logf("cleaning redis db %d: %v", db, err)
				}
			}
			if cursor == "0" {
				break
			}
		}
		if v, _ := rc.do("GET", redisClaimKey); v == owner {
			_, _ = rc.do("DEL", redisClaimKey)
		}
	})
	u := url.URL{Scheme: "redis", Host: addr, Path: "/" + strconv.Itoa(db)}
	if password != "" {
		u.User = url.UserPassword("", password)
	}
	return u.String()
}

// ---- the cluster ----

// cluster is two Sluice processes sharing one PostgreSQL schema and, when
// redis, one Redis database.
type cluster struct {
	t     *testing.T
	nodes []*gateway
	redis bool
	tr    http.RoundTripper // keep-alive client transport, leak-checked

	mu      sync.Mutex // guards secrets
	secrets []string   // key values that no node may log
}

// startCluster starts two nodes with config, one after the other (see
// TestClusterConcurrentStart for both at once).
func startCluster(t *testing.T, name, config string, withRedis bool) *cluster {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("gateway binary not built: %v", buildErr)
	}
	dsn := pgSchema(t)
	var redisURL string
	if withRedis {
		redisURL = redisDB(t)
	}
	c := &cluster{t: t, redis: withRedis}
	tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 512, IdleConnTimeout: 30 * time.Second,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	lc := newLeakCheck(t)
	lc.base = tr
	c.tr = lc
	nodes := prepareNodes(t, name, config, dsn, redisURL)
	for _, g := range nodes {
		if err := g.start(); err != nil {
			t.Fatal(err)
		}
	}
	c.nodes = nodes
	t.Cleanup(func() { c.checkLogs(t) }) // runs before the nodes are killed
	return c
}

// prepareNodes prepares two nodes on one store (and Redis), with a shared
// KEK, each killed when the test ends (its log shown if the test failed).
func prepareNodes(t *testing.T, name, config, dsn, redisURL string) []*gateway {
	t.Helper()
	kek := make([]byte, 32)
	for i := range kek {
		kek[i] = byte(rand.IntN(256))
	}
	var nodes []*gateway
	for i := range 2 {
		g, err := newGatewayWithConfig(fmt.Sprintf("%s-node%d", name, i+1), config)
		if err != nil {
			t.Fatal(err)
		}
		g.args = []string{"--db", dsn, "--key-failures", "1000000"}
		if redisURL != "" {
			g.args = append(g.args, "--redis", redisURL)
		}
		g.env = []string{"SLUICE_KEK=" + base64.StdEncoding.EncodeToString(kek)}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("node %d log tail:\n%s", i+1, g.log.tail(5000))
			}
			g.kill()
		})
		nodes = append(nodes, g)
	}
	return nodes
}

// secret records a key value that the nodes must never log.
func (c *cluster) secret(v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets = append(c.secrets, v)
}

func (c *cluster) checkLogs(t *testing.T) {
	c.mu.Lock()
	secrets := append([]string{provKey, adminToken}, c.secrets...)
	c.mu.Unlock()
	for i, g := range c.nodes {
		log := g.log.String()
		for _, s := range secrets {
			if strings.Contains(log, s) {
				t.Errorf("node %d's log contains a secret (%.12s...)", i+1, s)
			}
		}
	}
}

// admin calls the admin API of node i with the bootstrap token; out, when
// not nil, receives the JSON answer. It returns the status.
func (c *cluster) admin(node int, method, path string, body, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, c.nodes[node].URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Transport: c.tr, Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	if resp.StatusCode >= 300 {
		c.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

// mustAdmin is admin that fails the test unless the status is want.
func (c *cluster) mustAdmin(node int, method, path string, body, out any, want int) {
	c.t.Helper()
	if got := c.admin(node, method, path, body, out); got != want {
		c.t.Fatalf("%s %s on node %d: status %d, want %d", method, path, node+1, got, want)
	}
}

// unitID returns the id of the organisation or application (kind "orgs" or
// "apps") named name.
func (c *cluster) unitID(kind, name string) string {
	c.t.Helper()
	var list struct {
		Data []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"data"`
	}
	c.mustAdmin(0, http.MethodGet, "/admin/v1/"+kind, nil, &list, http.StatusOK)
	for _, u := range list.Data {
		if u.Name == name {
			return u.ID
		}
	}
	c.t.Fatalf("no %s named %q", kind, name)
	return ""
}

// createdKey is the answer to a key's creation or rotation.
type createdKey struct {
	Key string `json:"key"`
	ID  string `json:"id"`
}

// createKey creates a key on node through the admin API.
func (c *cluster) createKey(node int, body map[string]any) createdKey {
	c.t.Helper()
	var k createdKey
	c.mustAdmin(node, http.MethodPost, "/admin/v1/keys", body, &k, http.StatusCreated)
	if k.Key == "" || k.ID == "" {
		c.t.Fatalf("key creation answered no key or id: %+v", k)
	}
	c.secret(k.Key)
	return k
}

// usageRow and usageAnswer are GET /admin/v1/usage.
type usageRow struct {
	Group        string `json:"group"`
	Requests     int64  `json:"requests"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
	CostMicros   int64  `json:"cost_micros"`
}

type usageAnswer struct {
	Data  []usageRow `json:"data"`
	Total usageRow   `json:"total"`
}

// usage reads GET /admin/v1/usage?query (from 2000 unless query sets from).
func (c *cluster) usage(node int, query string) usageAnswer {
	c.t.Helper()
	if !strings.Contains(query, "from=") {
		query += "&from=2000-01-01"
	}
	var u usageAnswer
	c.mustAdmin(node, http.MethodGet, "/admin/v1/usage?"+query, nil, &u, http.StatusOK)
	return u
}

// waitUsage polls the usage of query until done holds (the ledger is
// group-committed), for at most 10 s, and returns the last answer.
func (c *cluster) waitUsage(query string, done func(usageAnswer) bool) usageAnswer {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		u := c.usage(0, query)
		if done(u) || time.Now().After(deadline) {
			return u
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// modelRow returns the row of model in an answer grouped by model (a zero
// row when there is none). Keys probed with GET /v1/models have entries
// of no model, which it leaves out.
func modelRow(u usageAnswer, model string) usageRow {
	for _, r := range u.Data {
		if r.Group == model {
			return r
		}
	}
	return usageRow{Group: model}
}

// clusterEntry is one ledger entry of GET /admin/v1/requests.
type clusterEntry struct {
	RequestID  string    `json:"request_id"`
	Time       time.Time `json:"time"`
	Model      string    `json:"model"`
	KeyID      string    `json:"key_id"`
	OrgID      string    `json:"org_id"`
	TeamID     string    `json:"team_id"`
	AppID      string    `json:"app_id"`
	Status     string    `json:"status"`
	HTTPStatus int       `json:"http_status"`
	CostMicros int64     `json:"cost_micros"`
}

// requests reads the newest (at most 1,000) ledger entries of query.
func (c *cluster) requests(query string) []clusterEntry {
	c.t.Helper()
	var list struct {
		Data []clusterEntry `json:"data"`
	}
	c.mustAdmin(0, http.MethodGet, "/admin/v1/requests?limit=1000&"+query, nil, &list, http.StatusOK)
	return list.Data
}

// limiterHealth is the limits part of GET /admin/v1/health.
type limiterHealth struct {
	Mode           string `json:"mode"`
	LastError      string `json:"last_error"`
	StoreFailures  uint64 `json:"store_failures_total"`
	LocalDecisions uint64 `json:"local_decisions_total"`
	Degradations   uint64 `json:"degradations_total"`
}

// checkShared fails the test unless every node's limiter is shared through
// Redis and decided nothing alone: with a healthy Redis a local decision is
// a cluster limit quietly multiplied by the number of nodes.
func (c *cluster) checkShared() {
	c.t.Helper()
	for i := range c.nodes {
		var h struct {
			Limits limiterHealth `json:"limits"`
		}
		c.mustAdmin(i, http.MethodGet, "/admin/v1/health", nil, &h, http.StatusOK)
		c.t.Logf("node %d limiter: mode %s, store failures %d, local decisions %d, degradations %d %s",
			i+1, h.Limits.Mode, h.Limits.StoreFailures, h.Limits.LocalDecisions, h.Limits.Degradations, h.Limits.LastError)
		if h.Limits.Mode != "shared" || h.Limits.LocalDecisions != 0 {
			c.t.Errorf("node %d decided limits alone with Redis up: mode %q, %d local decisions, %d store failures (last error %q)",
				i+1, h.Limits.Mode, h.Limits.LocalDecisions, h.Limits.StoreFailures, h.Limits.LastError)
		}
	}
}

// client returns an OpenAI client of node with key, without retries.
func (c *cluster) client(node int, key string) *openai.Client {
	cl := openai.NewClient(
		option.WithBaseURL(c.nodes[node].URL+"/v1"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(30*time.Second),
		option.WithHTTPClient(&http.Client{Transport: c.tr}),
	)
	return &cl
}

// result is what one request got.
type result struct {
	node   int
	key    int
	start  time.Time
	status int    // 0: transport error
	code   string // the error's code
	id     string // x-request-id
	err    error
}

// chat sends one chat completion on model costing tokens input tokens.
func chat(ctx context.Context, cl *openai.Client, model string, tokens int, extra ...option.RequestOption) result {
	var httpResp *http.Response
	opts := append([]option.RequestOption{
		option.WithHeader(openaifake.HeaderPromptTokens, strconv.Itoa(tokens)),
		option.WithHeader(openaifake.HeaderCompletionTokens, "0"),
		option.WithResponseInto(&httpResp),
	}, extra...)
	r := result{start: time.Now()}
	_, err := cl.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("cluster")},
	}, opts...)
	if httpResp != nil {
		r.id = httpResp.Header.Get("X-Request-Id")
	}
	var apiErr *openai.Error
	switch {
	case err == nil:
		r.status = http.StatusOK
	case errors.As(err, &apiErr):
		r.status, r.code = apiErr.StatusCode, apiErr.Code
		if apiErr.Response != nil {
			r.id = apiErr.Response.Header.Get("X-Request-Id")
		}
	default:
		r.err = err
	}
	return r
}

// knows reports whether node accepts key (GET /v1/models: no admission, no
// spend).
func (c *cluster) knows(node int, key string) bool {
	req, _ := http.NewRequest(http.MethodGet, c.nodes[node].URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := (&http.Client{Transport: c.tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitKnows polls node until it accepts key, for at most limit, and returns
// how long that took after since (or fails the test).
func (c *cluster) waitKnows(node int, key string, since time.Time, limit time.Duration) time.Duration {
	c.t.Helper()
	for {
		now := time.Now()
		if c.knows(node, key) {
			return now.Sub(since)
		}
		if now.Sub(since) > limit {
			c.t.Fatalf("node %d did not accept the key within %v", node+1, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// burst sends n requests at once (released together by a barrier): request
// i goes to node i%2 with key keys[(i/2)%len(keys)].
func (c *cluster) burst(n int, model string, keys ...string) []result {
	c.t.Helper()
	clients := make([][]*openai.Client, 2)
	for node := range 2 {
		for _, k := range keys {
			clients[node] = append(clients[node], c.client(node, k))
		}
	}
	ctx := ctxTimeout(c.t, 60*time.Second)
	out := make([]result, n)
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			node, key := i%2, (i/2)%len(keys)
			ready.Done()
			<-gate
			out[i] = chat(ctx, clients[node][key], model, 1)
			out[i].node, out[i].key = node, key
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
	return out
}

// tally counts results by status and 429 code, and fails the test on
// anything but 200 and a 429 with code want429.
func tally(t *testing.T, rs []result, want429 string) (ok int, byNode [2]int) {
	t.Helper()
	bad := 0
	for _, r := range rs {
		switch {
		case r.status == http.StatusOK:
			ok++
			byNode[r.node]++
		case r.status == http.StatusTooManyRequests && r.code == want429:
		default:
			bad++
			if bad <= 5 {
				t.Errorf("node %d: status %d code %q err %v", r.node+1, r.status, r.code, r.err)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d requests got neither 200 nor 429 %s", bad, len(rs), want429)
	}
	return ok, byNode
}

// ---- the tests ----

// TestClusterConcurrentStart starts both nodes of a cluster at the same
// moment on an empty schema, as an orchestrator starts replicas: both must
// come up (migrations and the config's units are applied once).
func TestClusterConcurrentStart(t *testing.T) {
	dsn := pgSchema(t)
	nodes := prepareNodes(t, "cl-start", clusterConfig(orgYAML("st", "", "", ""), ""), dsn, "")
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, g := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr, err := freePort()
			if err == nil {
				err = g.startOn(addr) // one attempt: start() would retry past a failed first start
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d of 2 started at once on an empty schema: %v", i+1, err)
		}
	}
}

// TestClusterRPMAcrossNodes is K2 with two nodes and Redis: an application
// limited to 600 requests per minute, 64 goroutines sending to both nodes
// for up to 8 s, all inside one minute window. The nodes together admit at
// least the limit and at most 1 % more; the ledger agrees.
func TestClusterRPMAcrossNodes(t *testing.T) {
	const rpm, workers = 600, 64
	key := "gw-test-CANARY-k2-" + randHex(8)
	c := startCluster(t, "cl-k2", clusterConfig(orgYAML("k2", "", "", "rpm: 600"),
		fmt.Sprintf("  - name: k2\n    key: %s\n    application: k2/t/a\n", key)), true)
	c.secret(key)
	appID := c.unitID("apps", "a")

	// Hammer inside one minute window (the limiter's windows are wall-clock
	// minutes): up to 8 s, at least 4 s, else wait for the next minute.
	now := time.Now()
	window := now.Truncate(time.Minute)
	hammer := min(8*time.Second, window.Add(time.Minute).Sub(now)-500*time.Millisecond)
	if hammer < 4*time.Second {
		window = window.Add(time.Minute)
		time.Sleep(time.Until(window.Add(200 * time.Millisecond)))
		hammer = 8 * time.Second
	}
	stop := time.Now().Add(hammer)
	ctx := ctxTimeout(t, 60*time.Second)
	results := make([][]result, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := w % 2
			cl := c.client(node, key)
			for time.Now().Before(stop) {
				r := chat(ctx, cl, "cl-micro", 1)
				r.node = node
				results[w] = append(results[w], r)
				if r.status != http.StatusOK {
					time.Sleep(50 * time.Millisecond) // refusals are cheap: keep the ledger small
				}
			}
		}()
	}
	wg.Wait()
	all := slices.Concat(results...)
	ok, byNode := tally(t, all, "rate_limit_exceeded")
	t.Logf("K2: %d requests in %v (window %s), %d admitted (node 1: %d, node 2: %d), limit %d",
		len(all), hammer.Round(time.Millisecond), window.Format("15:04"), ok, byNode[0], byNode[1], rpm)
	if ok < rpm || ok > rpm*101/100 {
		t.Errorf("the nodes together admitted %d requests in one minute window, want %d to %d", ok, rpm, rpm*101/100)
	}
	if byNode[0] == 0 || byNode[1] == 0 {
		t.Errorf("admitted per node %v: both nodes should have served", byNode)
	}

	// The ledger: every request has its entry; admitted ones cost 1 micro-dollar each.
	q := "app_id=" + appID
	u := c.waitUsage(q, func(u usageAnswer) bool { return u.Total.Requests >= int64(len(all)) })
	if u.Total.Requests != int64(len(all)) || u.Total.CostMicros != int64(ok) {
		t.Errorf("ledger for the application: %d entries costing %d µ$, want %d entries costing %d µ$ (one per admitted request)",
			u.Total.Requests, u.Total.CostMicros, len(all), ok)
	}
	w := c.usage(0, fmt.Sprintf("%s&from=%s&to=%s", q, window.UTC().Format(time.RFC3339), window.Add(time.Minute).UTC().Format(time.RFC3339)))
	t.Logf("K2: ledger admitted in the window: %d (of %d entries)", w.Total.CostMicros, w.Total.Requests)
	if w.Total.CostMicros < rpm || w.Total.CostMicros > rpm*101/100 {
		t.Errorf("the ledger shows %d admitted requests in the minute window, want %d to %d", w.Total.CostMicros, rpm, rpm*101/100)
	}
	c.checkShared()
}

// TestClusterRevocation is K4: a key created on node 1 reaches node 2; with
// 50 requests of it in flight on node 2 and more starting on both nodes
// every few milliseconds, node 1 revokes it. No request of the key may
// start more than 1 s after the revocation is acknowledged, on either node;
// the 50 in flight finish 200 and are billed. Without Redis the nodes learn
// of changes by polling the store; with Redis by a notice, faster.
func TestClusterRevocation(t *testing.T) {
	for _, withRedis := range []bool{false, true} {
		name := "poll"
		if withRedis {
			name = "redis"
		}
		t.Run(name, func(t *testing.T) { testRevocation(t, withRedis) })
	}
}

func testRevocation(t *testing.T, withRedis bool) {
	const inFlight, probers = 50, 4
	c := startCluster(t, "cl-k4-"+strconv.FormatBool(withRedis), clusterConfig(orgYAML("k4", "", "", ""), ""), withRedis)
	appID := c.unitID("apps", "a")

	k := c.createKey(0, map[string]any{"name": "k4", "app_id": appID})
	created := time.Now()
	d := c.waitKnows(1, k.Key, created, 5*time.Second)
	t.Logf("K4 (redis %v): a key created on node 1 was accepted by node 2 after %v", withRedis, d.Round(time.Millisecond))
	if d > 1500*time.Millisecond {
		t.Errorf("node 2 accepted a new key %v after its creation on node 1, want at most 1.5 s", d)
	}

	// 50 slow requests in flight on node 2.
	ctx := ctxTimeout(t, 60*time.Second)
	group := randHex(6)
	slow := make([]result, inFlight)
	var slowWG sync.WaitGroup
	for i := range slow {
		slowWG.Add(1)
		go func() {
			defer slowWG.Done()
			slow[i] = chat(ctx, c.client(1, k.Key), "cl-micro", 3,
				option.WithHeader(openaifake.HeaderDelayMs, "2500"), option.WithHeader("X-E2e-Group", group))
		}()
	}
	inGroup := func(reqs []openaifake.Request) int {
		n := 0
		for _, r := range reqs {
			if r.Header.Get("X-E2e-Group") == group {
				n++
			}
		}
		return n
	}
	if !fake.Wait(10*time.Second, func(reqs []openaifake.Request) bool { return inGroup(reqs) == inFlight }) {
		t.Fatalf("only %d of %d slow requests reached the upstream", inGroup(fake.Requests()), inFlight)
	}

	// Probers on both nodes, until 2 s after the revocation.
	var (
		mu     sync.Mutex
		probes []result
	)
	stopProbes := make(chan struct{})
	var probeWG sync.WaitGroup
	for p := range 2 * probers {
		probeWG.Add(1)
		go func() {
			defer probeWG.Done()
			node := p % 2
			cl := c.client(node, k.Key)
			for {
				select {
				case <-stopProbes:
					return
				default:
				}
				r := chat(ctx, cl, "cl-micro", 1)
				r.node = node
				mu.Lock()
				probes = append(probes, r)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	var before [2]int
	for _, r := range probes {
		if r.status == http.StatusOK {
			before[r.node]++
		}
	}
	mu.Unlock()
	if before[0] == 0 || before[1] == 0 {
		close(stopProbes)
		probeWG.Wait()
		t.Fatalf("before the revocation the key worked %v times on nodes 1 and 2; want both", before)
	}

	revokeSent := time.Now()
	c.mustAdmin(0, http.MethodDelete, "/admin/v1/keys/"+k.ID, nil, nil, http.StatusOK)
	revoked := time.Now()
	time.Sleep(2 * time.Second)
	close(stopProbes)
	probeWG.Wait()
	slowWG.Wait()
	t.Logf("K4 (redis %v): revocation answered in %v", withRedis, revoked.Sub(revokeSent).Round(time.Millisecond))

	// No request of the key started on either node more than 1 s after the revocation.
	okProbes := 0
	for node := range 2 {
		var lastOK, first401 time.Time
		for _, r := range probes {
			if r.node != node {
				continue
			}
			switch {
			case r.status == http.StatusOK:
				okProbes++
				if r.start.After(lastOK) {
					lastOK = r.start
				}
				if !first401.IsZero() && r.start.After(first401) {
					t.Errorf("node %d: the key worked again (request at %+v) after a 401 at %+v",
						node+1, r.start.Sub(revoked), first401.Sub(revoked))
				}
			case r.status == http.StatusUnauthorized && r.start.After(revokeSent):
				if first401.IsZero() || r.start.Before(first401) {
					first401 = r.start
				}
			default:
				t.Errorf("node %d: probe got status %d code %q err %v", node+1, r.status, r.code, r.err)
			}
		}
		t.Logf("K4 (redis %v): node %d: last request admitted %v after the revocation was acknowledged, first refused at %v",
			withRedis, node+1, lastOK.Sub(revoked).Round(time.Millisecond), first401.Sub(revoked).Round(time.Millisecond))
		if lastOK.After(revoked.Add(time.Second)) {
			t.Errorf("node %d admitted a request of the revoked key that started %v after the revocation, want at most 1 s",
				node+1, lastOK.Sub(revoked))
		}
		if first401.IsZero() {
			t.Errorf("node %d never refused the revoked key", node+1)
		}
	}

	// The requests in flight finish 200 and are billed.
	slowIDs := map[string]bool{}
	for i, r := range slow {
		if r.status != http.StatusOK || r.id == "" {
			t.Errorf("in-flight request %d across the revocation: status %d code %q err %v", i, r.status, r.code, r.err)
		}
		slowIDs[r.id] = true
	}
	want := int64(okProbes + inFlight)
	u := modelRow(c.waitUsage("group_by=model&key_id="+k.ID, func(u usageAnswer) bool { return modelRow(u, "cl-micro").Requests >= want }), "cl-micro")
	if u.Requests != want || u.CostMicros != int64(okProbes+3*inFlight) {
		t.Errorf("ledger of the key: %d chat entries costing %d µ$, want %d costing %d (every admitted request, billed once)",
			u.Requests, u.CostMicros, want, okProbes+3*inFlight)
	}
	billed, late := 0, 0
	for _, e := range c.requests("key_id=" + k.ID) {
		if slowIDs[e.RequestID] {
			if e.Status == "ok" && e.HTTPStatus == 200 && e.CostMicros == 3 {
				billed++
			} else {
				t.Errorf("in-flight request %s: ledger status %s/%d cost %d, want ok/200 cost 3", e.RequestID, e.Status, e.HTTPStatus, e.CostMicros)
			}
			continue
		}
		if e.Status == "ok" && e.Time.After(revoked.Add(time.Second)) {
			if late++; late <= 3 {
				t.Errorf("ledger: request %s of the revoked key started %v after the revocation", e.RequestID, e.Time.Sub(revoked))
			}
		}
	}
	if late > 0 {
		t.Errorf("ledger: %d requests of the revoked key admitted more than 1 s after the revocation", late)
	}
	if billed != inFlight {
		t.Errorf("%d of %d in-flight requests billed in the ledger", billed, inFlight)
	}
}

// TestClusterFirstRequestRace is K5: a key created through the admin API
// with a budget of exactly 100 requests ($1.00, each $0.01, reserve $0.01)
// gets 200 concurrent first requests, released together, split over both
// nodes sharing Redis. Exactly 100 are admitted and the ledger holds exactly
// $1.00.
func TestClusterFirstRequestRace(t *testing.T) {
	c := startCluster(t, "cl-k5", clusterConfig(orgYAML("k5", "", "", ""), ""), true)
	appID := c.unitID("apps", "a")
	k := c.createKey(0, map[string]any{"name": "k5", "app_id": appID,
		"budget": map[string]any{"amount_usd": 1.00, "reserve_usd": 0.01, "period": "monthly"}})
	d := c.waitKnows(1, k.Key, time.Now(), 5*time.Second)
	t.Logf("K5: node 2 accepted the new key after %v", d.Round(time.Millisecond))

	rs := c.burst(200, "cl-cent", k.Key)
	ok, byNode := tally(t, rs, "budget_exceeded")
	t.Logf("K5: 200 concurrent first requests, %d admitted (node 1: %d, node 2: %d)", ok, byNode[0], byNode[1])
	if ok != 100 {
		t.Errorf("admitted %d first requests of a key whose budget allows 100, want exactly 100", ok)
	}
	u := c.waitUsage("key_id="+k.ID+"&group_by=model", func(u usageAnswer) bool { return modelRow(u, "cl-cent").Requests >= 200 })
	t.Logf("K5: ledger of the key: %d chat entries, %d µ$", modelRow(u, "cl-cent").Requests, u.Total.CostMicros)
	if u.Total.CostMicros != 100*cent || modelRow(u, "cl-cent").Requests != 200 {
		t.Errorf("ledger of the key: %d µ$ over %d chat entries, want exactly 1000000 ($1.00) over 200",
			u.Total.CostMicros, modelRow(u, "cl-cent").Requests)
	}
	okEntries := 0
	for _, e := range c.requests("key_id=" + k.ID) {
		if e.Status == "ok" && e.Model == "cl-cent" {
			okEntries++
			if e.CostMicros != cent {
				t.Errorf("entry %s costs %d µ$, want %d", e.RequestID, e.CostMicros, cent)
			}
		}
	}
	if okEntries != ok {
		t.Errorf("ledger: %d ok entries for the key, the clients saw %d admitted", okEntries, ok)
	}
	// Both nodes see the same settled budget: spent, nothing left reserved.
	// A node answers from the shared counters its own last round trip for
	// the key returned while they are under 100 ms old (docs/governance.md),
	// so a node whose last settlement came before the other node's may
	// show reservations for that long: ask until 1 s has passed.
	for node := range 2 {
		var v struct {
			Budget struct {
				SpentMicros    int64 `json:"spent_micros"`
				ReservedMicros int64 `json:"reserved_micros"`
			} `json:"budget"`
		}
		deadline := time.Now().Add(time.Second)
		for {
			resp, body := raw(t, c.nodes[node], http.MethodGet, "/v1/sluice/usage", nil, bearer(k.Key))
			if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &v) != nil {
				t.Errorf("node %d: GET /v1/sluice/usage: %d %s", node+1, resp.StatusCode, body)
				break
			}
			if v.Budget.SpentMicros == 100*cent && v.Budget.ReservedMicros == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("node %d sees the key's budget spent %d reserved %d, want 1000000 and 0", node+1, v.Budget.SpentMicros, v.Budget.ReservedMicros)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	c.checkShared()
}

// TestClusterTeamBudget: a team budget of 60 requests ($0.60, each $0.01,
// reserve $0.01) shared by two keys of one application; 200 concurrent
// requests over both keys and both nodes with Redis. Exactly 60 are
// admitted, and (K3) the spend summed by key, application, team and
// organisation is the same and equals the ledger's.
func TestClusterTeamBudget(t *testing.T) {
	k1, k2 := "gw-test-CANARY-k3a-"+randHex(8), "gw-test-CANARY-k3b-"+randHex(8)
	c := startCluster(t, "cl-team", clusterConfig(orgYAML("k3", "", "budget: {amount_usd: 0.60, reserve_usd: 0.01}", ""),
		fmt.Sprintf("  - name: k3a\n    key: %s\n    application: k3/t/a\n  - name: k3b\n    key: %s\n    application: k3/t/a\n", k1, k2)), true)
	c.secret(k1)
	c.secret(k2)
	orgID := c.unitID("orgs", "k3")

	rs := c.burst(200, "cl-cent", k1, k2)
	ok, byNode := tally(t, rs, "budget_exceeded")
	var byKey [2]int
	for _, r := range rs {
		if r.status == http.StatusOK {
			byKey[r.key]++
		}
	}
	t.Logf("team budget: 200 concurrent requests, %d admitted (node 1: %d, node 2: %d; key a: %d, key b: %d)",
		ok, byNode[0], byNode[1], byKey[0], byKey[1])
	if ok != 60 {
		t.Errorf("admitted %d requests against a team budget of 60, want exactly 60", ok)
	}

	q := "org_id=" + orgID
	total := c.waitUsage(q, func(u usageAnswer) bool { return u.Total.Requests >= 200 })
	entries := c.requests(q)
	var ledgerCost int64
	ids := map[string]clusterEntry{}
	for _, e := range entries {
		ledgerCost += e.CostMicros
		ids[e.RequestID] = e
	}
	t.Logf("K3: ledger %d entries (%d distinct), %d µ$; usage total %d requests, %d µ$",
		len(entries), len(ids), ledgerCost, total.Total.Requests, total.Total.CostMicros)
	if len(ids) != len(entries) || int64(len(entries)) != total.Total.Requests || len(entries) != len(rs) {
		t.Errorf("ledger: %d entries, %d distinct request ids, usage counts %d, clients sent %d; want all equal",
			len(entries), len(ids), total.Total.Requests, len(rs))
	}
	if ledgerCost != int64(ok)*cent || total.Total.CostMicros != ledgerCost {
		t.Errorf("spend: ledger %d µ$, usage %d µ$, admitted %d × %d; want all equal", ledgerCost, total.Total.CostMicros, ok, cent)
	}
	for _, r := range rs {
		if r.status != http.StatusOK {
			continue
		}
		if e, found := ids[r.id]; !found || e.Status != "ok" || e.CostMicros != cent {
			t.Errorf("admitted request %s: ledger entry %+v (found %v), want ok costing %d", r.id, e, found, cent)
		}
	}
	for _, by := range []string{"key", "app", "team", "org"} {
		u := c.usage(0, q+"&group_by="+by)
		var cost, reqs int64
		for _, row := range u.Data {
			cost += row.CostMicros
			reqs += row.Requests
		}
		t.Logf("K3: group_by=%s: %d rows, %d requests, %d µ$", by, len(u.Data), reqs, cost)
		if cost != ledgerCost || reqs != int64(len(entries)) || u.Total.CostMicros != ledgerCost {
			t.Errorf("usage by %s: %d requests costing %d µ$ (total %d), want %d costing %d as in the ledger",
				by, reqs, cost, u.Total.CostMicros, len(entries), ledgerCost)
		}
		wantRows := 1
		if by == "key" {
			wantRows = 2
		}
		if len(u.Data) != wantRows {
			t.Errorf("usage by %s: %d groups %+v, want %d", by, len(u.Data), u.Data, wantRows)
		}
		if by == "org" && len(u.Data) == 1 && u.Data[0].Group != orgID {
			t.Errorf("usage by org: group %q, want %q", u.Data[0].Group, orgID)
		}
		if by == "key" && len(u.Data) == 2 {
			got := []int64{u.Data[0].CostMicros, u.Data[1].CostMicros}
			want := []int64{int64(byKey[0]) * cent, int64(byKey[1]) * cent}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("usage by key: %v µ$, the clients saw %v", got, want)
			}
		}
	}
	c.checkShared()
}

// TestClusterBudgetAlertOnce: an organisation's budget with an alert at 50 %;
// 70 requests of 1 % each over both nodes with Redis cross it once. One row
// in GET /admin/v1/budget-alerts, at exactly 50 % of the budget, one log line
// and one alert counted across the cluster.
func TestClusterBudgetAlertOnce(t *testing.T) {
	key := "gw-test-CANARY-al-" + randHex(8)
	c := startCluster(t, "cl-alert", clusterConfig(orgYAML("al", "budget: {amount_usd: 1.00, reserve_usd: 0.01, alert_percents: [50]}", "", ""),
		fmt.Sprintf("  - name: al\n    key: %s\n    application: al/t/a\n", key)), true)
	c.secret(key)
	orgID := c.unitID("orgs", "al")

	const n, workers = 70, 10
	jobs := make(chan int, n)
	for i := range n {
		jobs <- i
	}
	close(jobs)
	ctx := ctxTimeout(t, 60*time.Second)
	rs := make([]result, n)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cls := []*openai.Client{c.client(0, key), c.client(1, key)}
			for i := range jobs {
				rs[i] = chat(ctx, cls[(i+w)%2], "cl-cent", 1)
				rs[i].node = (i + w) % 2
			}
		}()
	}
	wg.Wait()
	// No 429 is expected: "" matches none (Sluice always names the code).
	if ok, _ := tally(t, rs, ""); ok != n {
		t.Fatalf("%d of %d requests within the budget succeeded", ok, n)
	}

	type alert struct {
		Subject      string    `json:"subject"`
		PeriodStart  time.Time `json:"period_start"`
		Percent      int       `json:"percent"`
		SpentMicros  int64     `json:"spent_micros"`
		BudgetMicros int64     `json:"budget_micros"`
	}
	var list struct {
		Data []alert `json:"data"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mustAdmin(1, http.MethodGet, "/admin/v1/budget-alerts?org_id="+orgID, nil, &list, http.StatusOK)
		if len(list.Data) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a second alert, if any, has time to land
	c.mustAdmin(0, http.MethodGet, "/admin/v1/budget-alerts?org_id="+orgID, nil, &list, http.StatusOK)
	t.Logf("budget alerts: %+v", list.Data)
	if len(list.Data) != 1 {
		t.Fatalf("%d budget alert rows for the organisation, want exactly 1: %+v", len(list.Data), list.Data)
	}
	a := list.Data[0]
	if a.Subject != orgID || a.Percent != 50 || a.BudgetMicros != 100*cent || a.SpentMicros != 50*cent {
		t.Errorf("alert %+v, want subject %s at 50 %% with spent 500000 of 1000000 (the settlement that crossed)", a, orgID)
	}
	lines, counted := 0, 0.0
	for i, g := range c.nodes {
		lines += strings.Count(g.log.String(), "budget threshold crossed")
		resp, body := raw(t, g, http.MethodGet, "/metrics", nil, bearer(adminToken))
		if resp.StatusCode != http.StatusOK {
			t.Errorf("node %d: GET /metrics: %d", i+1, resp.StatusCode)
		}
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, "sluice_budget_alerts_total "); ok {
				f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
				counted += f
			}
		}
	}
	if lines != 1 || counted != 1 {
		t.Errorf("across the nodes: %d alert log lines and sluice_budget_alerts_total %v, want 1 and 1", lines, counted)
	}
	c.checkShared()
}

// TestClusterKeyRotation: node 1 rotates a key with a 2 s overlap. Right
// after, the old value still works on node 2; the new one works on node 1
// at once and on node 2 within about a second; the old one is refused (401)
// on node 2 once the overlap is over, within 3 s; the new one keeps working
// on both; every request of both values is billed to the same key.
func TestClusterKeyRotation(t *testing.T) {
	c := startCluster(t, "cl-rotate", clusterConfig(orgYAML("ro", "", "", ""), ""), false)
	appID := c.unitID("apps", "a")
	old := c.createKey(0, map[string]any{"name": "ro", "app_id": appID})
	c.waitKnows(1, old.Key, time.Now(), 5*time.Second)

	ctx := ctxTimeout(t, 60*time.Second)
	admitted := 0
	expect := func(what string, node int, key string, want int) result {
		t.Helper()
		r := chat(ctx, c.client(node, key), "cl-micro", 1)
		if r.status == http.StatusOK {
			admitted++
		}
		if r.status != want {
			t.Errorf("%s on node %d: status %d code %q err %v, want %d", what, node+1, r.status, r.code, r.err, want)
		}
		return r
	}
	expect("the key before rotation", 1, old.Key, 200)

	var rotated createdKey
	rotateSent := time.Now()
	c.mustAdmin(0, http.MethodPost, "/admin/v1/keys/"+old.ID+"/rotate", map[string]any{"overlap_seconds": 2}, &rotated, http.StatusOK)
	c.secret(rotated.Key)
	if rotated.ID != old.ID || rotated.Key == "" || rotated.Key == old.Key {
		t.Fatalf("rotation answered id %q (want %q) and a key that is empty or unchanged", rotated.ID, old.ID)
	}
	expect("the old value right after rotation", 1, old.Key, 200)
	expect("the new value right after rotation", 0, rotated.Key, 200)
	d := c.waitKnows(1, rotated.Key, rotateSent, 5*time.Second)
	t.Logf("rotation: node 2 accepted the new value %v after the rotation was sent", d.Round(time.Millisecond))
	if d > 1500*time.Millisecond {
		t.Errorf("node 2 accepted the new value %v after the rotation, want at most 1.5 s", d)
	}

	// The old value on node 2: works until the overlap ends, refused soon after.
	var refusedAt time.Duration
	for {
		r := chat(ctx, c.client(1, old.Key), "cl-micro", 1)
		at := r.start.Sub(rotateSent)
		if r.status == http.StatusOK {
			admitted++
		}
		if r.status == http.StatusUnauthorized {
			refusedAt = at
			if at < 1800*time.Millisecond {
				t.Errorf("the old value was refused on node 2 %v after a rotation with a 2 s overlap", at)
			}
			break
		}
		if r.status != http.StatusOK {
			t.Fatalf("the old value on node 2 %v after rotation: status %d code %q err %v", at, r.status, r.code, r.err)
		}
		if at > 5*time.Second {
			t.Fatalf("the old value still works on node 2 %v after a rotation with a 2 s overlap", at)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("rotation: the old value was refused on node 2 %v after the rotation (overlap 2 s)", refusedAt.Round(time.Millisecond))
	if refusedAt > 3*time.Second {
		t.Errorf("the old value was refused on node 2 only %v after a rotation with a 2 s overlap, want within 3 s", refusedAt)
	}
	expect("the old value after the overlap", 0, old.Key, 401)
	expect("the new value after the overlap", 0, rotated.Key, 200)
	expect("the new value after the overlap", 1, rotated.Key, 200)

	u := c.waitUsage("key_id="+old.ID, func(u usageAnswer) bool { return u.Total.CostMicros >= int64(admitted) })
	if u.Total.CostMicros != int64(admitted) {
		t.Errorf("ledger of the key: %d µ$ over %d entries, want %d (each admitted request of either value, 1 µ$)",
			u.Total.CostMicros, u.Total.Requests, admitted)
	}
}
