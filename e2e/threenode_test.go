package e2e

// A three-node cluster under load loses one node: three Sluice processes on
// one PostgreSQL schema and one Redis database, behind a round-robin TCP
// balancer in this test, take chat requests from 16 workers over three keys
// (one with a requests-per-minute limit, one with a total budget, one
// unlimited). Partway through, one node gets SIGKILL; later it starts again
// on the same store and is put back behind the balancer. The test shows what
// docs/deploy.md promises a cluster:
//
//   - clients see only the killed node's in-flight requests fail: every
//     failure went over a connection the balancer had routed to the killed
//     process and started before that process was gone;
//   - the rate limit and the budget hold across the cluster exactly, short
//     only by the requests the killed node had admitted when it died;
//   - every answered request is in the ledger exactly once, except what the
//     killed node answered in its last group commit (docs/ledger.md: at most
//     the last 100 ms after kill -9);
//   - the restarted node rejoins (limits shared through Redis, no local
//     decisions) and serves requests that reach the ledger.
//
// It needs SLUICE_TEST_POSTGRES_DSN (and psql) and SLUICE_TEST_REDIS_ADDR,
// and skips without them unless SLUICE_TEST_REQUIRE_POSTGRES=1 or
// SLUICE_TEST_REQUIRE_REDIS=1.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
)

// The load of the three-node run.
const (
	tnNodes    = 3
	tnWorkers  = 16
	tnDuration = 20 * time.Second
	tnKillAt   = 6 * time.Second  // SIGKILL of node tnVictim
	tnRestart  = 11 * time.Second // the killed node starts again
	tnVictim   = 1                // the second node
	tnRPM      = 1200             // the rate-limited key's requests per minute
	tnCost     = 100              // µ$ per request of the budgeted key (100 input tokens on cl-micro)
	tnBudget   = 1500 * tnCost    // the budgeted key's total budget: 1,500 requests
	tnUpDelay  = 20               // ms the fake upstream takes per answer: requests are in flight when the node dies
	// tnLedgerLoss is how long before its death the killed node's answers
	// may be missing from the ledger: one group commit (100 ms) and the
	// time its batch takes to reach PostgreSQL on a loaded machine.
	tnLedgerLoss = time.Second
	// tnDying is how long after the process is gone a request may still
	// have been sent over a connection to it: until the balancer sees the
	// backend's end and closes the client's side.
	tnDying = 100 * time.Millisecond
)

// ---- the balancer ----

// tnBalancer is a round-robin TCP balancer: each client connection goes to
// the next live backend and stays there; a backend that refuses the dial is
// skipped. It remembers which backend (and which start of it, the epoch) got
// each client connection, so that a request can be traced to a process.
type tnBalancer struct {
	ln net.Listener

	mu       sync.Mutex
	backends []string // address per node; "" while it is out
	epochs   []int    // starts of each node
	next     int
	routes   map[string]tnRoute // client address -> backend
	conns    []int              // connections routed per node (all epochs)
	open     map[net.Conn]struct{}
	wg       sync.WaitGroup
}

type tnRoute struct{ node, epoch int }

func newBalancer(t *testing.T, addrs []string) *tnBalancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &tnBalancer{ln: ln, backends: slices.Clone(addrs), epochs: make([]int, len(addrs)),
		routes: map[string]tnRoute{}, conns: make([]int, len(addrs)), open: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.serve()
	t.Cleanup(b.close)
	return b
}

func (b *tnBalancer) URL() string { return "http://" + b.ln.Addr().String() }

func (b *tnBalancer) close() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.open {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// set puts node back behind the balancer at addr (a new epoch), or takes it
// out with "".
func (b *tnBalancer) set(node int, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends[node] = addr
	if addr != "" {
		b.epochs[node]++
	}
}

func (b *tnBalancer) route(client string) (tnRoute, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.routes[client]
	return r, ok
}

func (b *tnBalancer) track(c net.Conn, on bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if on {
		if b.open == nil {
			return false
		}
		b.open[c] = struct{}{}
	} else {
		delete(b.open, c)
	}
	return true
}

func (b *tnBalancer) serve() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.pipe(c)
		}()
	}
}

// pipe connects client c to the next backend that accepts a connection
// and copies both ways until either side ends; then it closes both, so a
// client sees a backend's death as its connection closing.
func (b *tnBalancer) pipe(c net.Conn) {
	defer c.Close()
	var up net.Conn
	var rt tnRoute
	for tries := 0; tries < len(b.backends) && up == nil; tries++ {
		b.mu.Lock()
		n := b.next % len(b.backends)
		b.next++
		addr, epoch := b.backends[n], b.epochs[n]
		b.mu.Unlock()
		if addr == "" {
			continue
		}
		if d, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			up, rt = d, tnRoute{n, epoch}
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	b.mu.Lock()
	b.routes[c.RemoteAddr().String()] = rt
	b.conns[rt.node]++
	b.mu.Unlock()
	b.track(c, true)
	b.track(up, true)
	defer b.track(c, false)
	defer b.track(up, false)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// ---- the load ----

// tnResult is what one request got, and over which connection.
type tnResult struct {
	key    int // 0 rate-limited, 1 budgeted, 2 unlimited
	start  time.Time
	end    time.Time
	status int // 0: transport error
	code   string
	id     string
	err    error
	client string // the client side of the connection ("" if none was got)
}

var tnKeyNames = []string{"tn-rpm", "tn-budget", "tn-free"}

// tnChat sends one chat completion of tokens input tokens through cl.
func tnChat(ctx context.Context, cl *http.Client, base, key string, tokens int) tnResult {
	r := tnResult{start: time.Now()}
	body := `{"model":"cl-micro","messages":[{"role":"user","content":"three nodes"}]}`
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { r.client = info.Conn.LocalAddr().String() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, base+"/v1/chat/completions", bytes.NewReader([]byte(body)))
	if err != nil {
		r.err = err
		return r
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(openaifake.HeaderPromptTokens, strconv.Itoa(tokens))
	req.Header.Set(openaifake.HeaderCompletionTokens, "0")
	req.Header.Set(openaifake.HeaderDelayMs, strconv.Itoa(tnUpDelay))
	resp, err := cl.Do(req)
	if err != nil {
		r.err, r.end = err, time.Now()
		return r
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.end = time.Now()
	if err != nil {
		r.err = err
		return r
	}
	r.status, r.id = resp.StatusCode, resp.Header.Get("X-Request-Id")
	var answer struct {
		ID    string `json:"id"`
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if jerr := json.Unmarshal(raw, &answer); jerr != nil {
		r.err = fmt.Errorf("status %d, body not JSON: %.200s", resp.StatusCode, raw)
	}
	r.code = answer.Error.Code
	if r.status == http.StatusOK && answer.ID == "" {
		r.err = fmt.Errorf("200 without a completion: %.200s", raw)
	}
	return r
}

// ---- the store ----

// tnLedger reads request id, key name, status, HTTP status and cost of
// every ledger row of the test's schema with psql (the admin API returns at
// most 1,000 rows).
func tnLedger(t *testing.T, dsn string) map[string][]tnRow {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	schema := q.Get("search_path")
	q.Del("search_path")
	u.RawQuery = q.Encode()
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sql := fmt.Sprintf("SELECT request_id, key_name, status, http_status, cost_micros FROM %s.requests WHERE key_name LIKE 'tn-%%'", schema)
	out, err := exec.CommandContext(ctx, psql, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", u.String(), "-c", sql).Output()
	if err != nil {
		t.Fatalf("psql %q: %v", sql, err)
	}
	rows := map[string][]tnRow{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			continue
		}
		hs, _ := strconv.Atoi(f[3])
		cost, _ := strconv.ParseInt(f[4], 10, 64)
		rows[f[0]] = append(rows[f[0]], tnRow{key: f[1], status: f[2], httpStatus: hs, cost: cost})
	}
	return rows
}

type tnRow struct {
	key, status string
	httpStatus  int
	cost        int64
}

// ---- the test ----

// TestThreeNodesSurviveAKill is the three-node proof described at the top of
// this file.
func TestThreeNodesSurviveAKill(t *testing.T) {
	if buildErr != nil {
		t.Fatalf("gateway binary not built: %v", buildErr)
	}
	dsn := pgSchema(t)
	redisURL := redisDB(t)
	keys := []string{"gw-test-CANARY-tnr-" + randHex(8), "gw-test-CANARY-tnb-" + randHex(8), "gw-test-CANARY-tnf-" + randHex(8)}
	config := clusterConfig("", fmt.Sprintf(`  - name: %s
    key: %s
    rpm: %d
  - name: %s
    key: %s
    budget: {amount_usd: %g, reserve_usd: %g, period: total}
  - name: %s
    key: %s
`, tnKeyNames[0], keys[0], tnRPM, tnKeyNames[1], keys[1], float64(tnBudget)/1e6, float64(tnCost)/1e6, tnKeyNames[2], keys[2]))

	kek := make([]byte, 32)
	for i := range kek {
		kek[i] = byte(rand.IntN(256))
	}
	nodes := make([]*gateway, tnNodes)
	for i := range nodes {
		g, err := newGatewayWithConfig(fmt.Sprintf("tn-node%d", i+1), config)
		if err != nil {
			t.Fatal(err)
		}
		g.args = []string{"--db", dsn, "--redis", redisURL, "--key-failures", "1000000"}
		g.env = []string{"SLUICE_KEK=" + base64.StdEncoding.EncodeToString(kek)}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("node %d log tail:\n%s", i+1, g.log.tail(5000))
			}
			g.kill()
		})
		if err := g.start(); err != nil { // one after the other: the first migrates
			t.Fatal(err)
		}
		nodes[i] = g
	}
	addrs := make([]string, tnNodes)
	for i, g := range nodes {
		addrs[i] = g.addr
	}
	lb := newBalancer(t, addrs)

	// The rate limit's windows are wall-clock minutes: run inside one.
	if now := time.Now(); now.Add(tnDuration + 2*time.Second).After(now.Truncate(time.Minute).Add(time.Minute)) {
		time.Sleep(time.Until(now.Truncate(time.Minute).Add(time.Minute + 200*time.Millisecond)))
	}
	window := time.Now().Truncate(time.Minute)

	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	ctx := ctxTimeout(t, 2*time.Minute)

	begin := time.Now()
	stop := begin.Add(tnDuration)
	results := make([][]tnResult, tnWorkers)
	var wg sync.WaitGroup
	var sent atomic.Int64
	for w := range tnWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := []int{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2}[w]
			tokens := 1
			if key == 1 {
				tokens = tnCost
			}
			for time.Now().Before(stop) {
				r := tnChat(ctx, cl, lb.URL(), keys[key], tokens)
				r.key = key
				sent.Add(1)
				results[w] = append(results[w], r)
				if r.status != http.StatusOK {
					time.Sleep(50 * time.Millisecond) // refusals are cheap: keep the ledger small
				}
			}
		}()
	}

	// Kill one node mid-run, then bring it back.
	time.Sleep(time.Until(begin.Add(tnKillAt)))
	victim := nodes[tnVictim]
	killAt := time.Now()
	if err := victim.signal(syscallKill); err != nil {
		t.Fatal(err)
	}
	if _, err := victim.wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	goneAt := time.Now()
	lb.set(tnVictim, "")
	sentAtKill := sent.Load()
	time.Sleep(time.Until(begin.Add(tnRestart)))
	restartAt := time.Now()
	if err := victim.start(); err != nil {
		t.Fatalf("the killed node did not start again: %v", err)
	}
	rejoinAt := time.Now()
	lb.set(tnVictim, victim.addr)
	// Keep-alive connections stay where they are: let the idle ones go, a
	// few times over two seconds (a busy one is idle only between its
	// requests), so that the next requests spread over all three nodes.
	for i := 0; i < 10 && time.Now().Before(stop); i++ {
		tr.CloseIdleConnections()
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()
	all := slices.Concat(results...)
	t.Logf("three nodes: %d requests in %v through the balancer (connections per node %v); node %d killed at %v (gone %v later, %d requests sent by then), started again at %v, serving %v later",
		len(all), time.Since(begin).Round(time.Millisecond), lb.conns, tnVictim+1, killAt.Sub(begin).Round(time.Millisecond),
		goneAt.Sub(killAt).Round(time.Millisecond), sentAtKill, restartAt.Sub(begin).Round(time.Millisecond), rejoinAt.Sub(restartAt).Round(time.Millisecond))

	// 1. Failures: only requests in flight on the killed process.
	var failed, strayFail, dying int
	failedByKey := make([]int, 3)
	okByKey := make([]int, 3)
	limited := make([]int, 3)
	restartedOK, restartedAnswered := 0, 0
	var lastFail time.Time
	for _, r := range all {
		rt, routed := lb.route(r.client)
		if r.status != 0 && r.err == nil && routed && rt.node == tnVictim && rt.epoch > 0 {
			restartedAnswered++
		}
		switch {
		case r.status == http.StatusOK && r.err == nil:
			okByKey[r.key]++
			if routed && rt.node == tnVictim && rt.epoch > 0 {
				restartedOK++
			}
		case r.status == http.StatusTooManyRequests && r.err == nil &&
			((r.key == 0 && r.code == "rate_limit_exceeded") || (r.key == 1 && r.code == "budget_exceeded")):
			limited[r.key]++
		case r.status == 0 && routed && rt.node == tnVictim && rt.epoch == 0 && r.start.Before(goneAt.Add(tnDying)):
			failed++
			if !r.start.Before(goneAt) {
				dying++
			}
			failedByKey[r.key]++
			if r.end.After(lastFail) {
				lastFail = r.end
			}
		default:
			if strayFail++; strayFail <= 10 {
				t.Errorf("request of key %s at +%v: status %d code %q err %v, over a connection to node %d (epoch %d, known %v): not an in-flight request of the killed node",
					tnKeyNames[r.key], r.start.Sub(begin).Round(time.Millisecond), r.status, r.code, r.err, rt.node+1, rt.epoch, routed)
			}
		}
	}
	t.Logf("three nodes: %d in-flight requests of the killed node failed (rate-limited key %d, budgeted %d, unlimited %d; %d of them sent over its connection within %v after it was gone), the last %v after the kill; %d other failures",
		failed, failedByKey[0], failedByKey[1], failedByKey[2], dying, tnDying, lastFail.Sub(killAt).Round(time.Millisecond), strayFail)
	if strayFail > 0 {
		t.Errorf("%d requests failed that were not in flight on the killed node", strayFail)
	}
	if failed > tnWorkers {
		t.Errorf("%d requests failed, more than the %d workers could have had in flight", failed, tnWorkers)
	}

	// 2. Limits and budgets across the cluster. The killed node's admitted
	// requests count in Redis (the rate window, the budget's reservations
	// until their lease lapses) but were never answered. Exact while every
	// node decided through Redis; a node whose Redis call timed out
	// decides alone and says so (docs/deploy.md), and then the documented
	// bound is the limit times the number of nodes.
	health := make([]limiterHealth, tnNodes)
	var local uint64
	for i, g := range nodes {
		h, err := tnLimiterHealth(g)
		if err != nil {
			t.Errorf("node %d: %v", i+1, err)
			continue
		}
		health[i] = h
		local += h.LocalDecisions
	}
	bound, how := 1, "exact: every decision through Redis"
	if local > 0 {
		bound, how = tnNodes, fmt.Sprintf("%d decisions made alone after Redis timeouts (%q): the documented bound, limit x %d nodes", local, health[0].LastError+health[2].LastError, tnNodes)
	}
	t.Logf("three nodes: answered per key (ok / limited): rpm %d/%d (limit %d per minute, window %s), budget %d/%d (%d µ$ of %d), unlimited %d; %d answered by the restarted node (%d ok); limits %s",
		okByKey[0], limited[0], tnRPM, window.Format("15:04"), okByKey[1], limited[1], okByKey[1]*tnCost, tnBudget, okByKey[2], restartedAnswered, restartedOK, how)
	if okByKey[0] > tnRPM*bound {
		t.Errorf("the cluster admitted %d requests of a key limited to %d per minute in one window (%s)", okByKey[0], tnRPM, how)
	}
	if limited[0] > 0 && okByKey[0] < tnRPM-failedByKey[0] {
		t.Errorf("the cluster refused the rate-limited key after %d answered (+%d lost in flight), want the full %d", okByKey[0], failedByKey[0], tnRPM)
	}
	if okByKey[1]*tnCost > tnBudget*bound {
		t.Errorf("the cluster spent %d µ$ of a %d µ$ budget (%s)", okByKey[1]*tnCost, tnBudget, how)
	}
	if limited[1] > 0 && okByKey[1] < tnBudget/tnCost-failedByKey[1] {
		t.Errorf("the cluster refused the budgeted key after %d answered (+%d lost in flight), want %d", okByKey[1], failedByKey[1], tnBudget/tnCost)
	}
	if limited[0] == 0 || limited[1] == 0 {
		t.Logf("three nodes: the load did not reach every limit (rpm refusals %d, budget refusals %d): only the upper bounds were checked", limited[0], limited[1])
	}

	// 3. The ledger: every answered request exactly once, but for the
	// killed node's last group commit. Give the live nodes' last commits a
	// moment.
	var rows map[string][]tnRow
	answered := 0
	for _, r := range all {
		if r.status != 0 && r.err == nil {
			answered++
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows = tnLedger(t, dsn)
		if len(rows) >= answered-tnWorkers || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	rows = tnLedger(t, dsn)
	seen := map[string]bool{}
	var missing, lostAtKill, wrong int
	var lostBefore time.Duration // how long before the kill the earliest lost answer ended
	for _, r := range all {
		if r.status == 0 || r.err != nil {
			continue
		}
		if r.id == "" || seen[r.id] {
			t.Errorf("answer without a request id, or a request id answered twice: %q", r.id)
			continue
		}
		seen[r.id] = true
		got := rows[r.id]
		rt, _ := lb.route(r.client)
		if len(got) == 0 {
			if rt.node == tnVictim && rt.epoch == 0 && !r.end.Before(killAt.Add(-tnLedgerLoss)) {
				lostAtKill++
				lostBefore = max(lostBefore, killAt.Sub(r.end))
				continue
			}
			if missing++; missing <= 5 {
				t.Errorf("request %s (key %s, %d, node %d epoch %d, ended at +%v) is not in the ledger",
					r.id, tnKeyNames[r.key], r.status, rt.node+1, rt.epoch, r.end.Sub(begin).Round(time.Millisecond))
			}
			continue
		}
		e := got[0]
		wantStatus, wantCost := "ok", int64(1)
		if r.key == 1 {
			wantCost = tnCost
		}
		if r.status != http.StatusOK {
			wantStatus, wantCost = "limited", 0
		}
		if len(got) != 1 || e.key != tnKeyNames[r.key] || e.status != wantStatus || e.httpStatus != r.status || e.cost != wantCost {
			if wrong++; wrong <= 5 {
				t.Errorf("request %s: ledger rows %+v, want one %s/%d costing %d µ$ for key %s", r.id, got, wantStatus, r.status, wantCost, tnKeyNames[r.key])
			}
		}
	}
	extra := 0
	for id := range rows {
		if !seen[id] {
			extra++
		}
	}
	t.Logf("three nodes: %d answered requests, %d ledger rows; %d answered by the killed node in its last %v not in the ledger (the earliest ended %v before the kill); %d rows of requests no client got an answer to (in flight at the kill); %d missing, %d wrong",
		answered, len(rows), lostAtKill, tnLedgerLoss, lostBefore.Round(time.Millisecond), extra, missing, wrong)
	if missing > 0 || wrong > 0 {
		t.Errorf("ledger: %d answered requests missing and %d recorded wrongly", missing, wrong)
	}
	if extra > failed {
		t.Errorf("ledger: %d rows of requests no client was answered, more than the %d in flight at the kill", extra, failed)
	}
	var spent int64
	for _, rs := range rows {
		if rs[0].key == tnKeyNames[1] {
			spent += rs[0].cost
		}
	}
	if spent > tnBudget*int64(bound) {
		t.Errorf("ledger: the budgeted key spent %d µ$ of %d", spent, tnBudget)
	}

	// 4. The restarted node rejoined: it served through the balancer, its
	// limiter is shared through Redis, and it answers directly.
	if restartedAnswered == 0 {
		t.Errorf("the restarted node answered no request through the balancer")
	}
	for i, g := range nodes {
		if h := health[i]; h.Mode != "shared" {
			t.Errorf("node %d's limiter is not shared through Redis at the end: mode %q, %d local decisions (%s)", i+1, h.Mode, h.LocalDecisions, h.LastError)
		}
		r := tnChat(ctx, cl, g.URL, keys[2], 1)
		if r.status != http.StatusOK || r.err != nil {
			t.Errorf("node %d after the run: status %d err %v", i+1, r.status, r.err)
		}
	}
	for i, g := range nodes {
		log := g.log.String()
		for _, s := range append([]string{provKey, adminToken}, keys...) {
			if strings.Contains(log, s) {
				t.Errorf("node %d's log contains a secret (%.12s...)", i+1, s)
			}
		}
	}
}

// tnLimiterHealth reads the limits part of GET /admin/v1/health of g.
func tnLimiterHealth(g *gateway) (limiterHealth, error) {
	req, _ := http.NewRequest(http.MethodGet, g.URL+"/admin/v1/health", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return limiterHealth{}, err
	}
	defer resp.Body.Close()
	var h struct {
		Limits limiterHealth `json:"limits"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return limiterHealth{}, fmt.Errorf("GET /admin/v1/health: %d %s", resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return limiterHealth{}, errors.Join(err, errors.New(string(raw)))
	}
	return h.Limits, nil
}

var syscallKill = os.Kill
