package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNodeSDK runs e2e/node/openai.test.mjs (the official openai@6 Node SDK) against
// the shared gateway.
func TestNodeSDK(t *testing.T) {
	node := nodeOrSkip(t, "openai")
	g := sharedGateway(t)
	cmd := exec.CommandContext(ctxTimeout(t, 60*time.Second), node, "--test", "openai.test.mjs")
	cmd.Dir = "node"
	cmd.Env = append(os.Environ(),
		"SLUICE_BASE_URL="+g.URL+"/v1",
		"SLUICE_API_KEY="+devKey,
		"SLUICE_CHAT_MODEL=chat-small",
		"SLUICE_EMBED_MODEL=embed-small",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	t.Logf("node --test:\n%s", tail(string(out), 1500))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// TestNodeProtocolSDKs runs e2e/node/anthropic.test.mjs (@anthropic-ai/sdk) and
// e2e/node/aisdk.test.mjs (the Vercel AI SDK: ai@6 with @ai-sdk/openai and
// @ai-sdk/anthropic) against the protocols gateway, then checks from here what the
// SDKs cannot see: which upstream and endpoint each request reached (by its
// X-E2e-Marker), and that every request left an ok ledger entry with reported usage.
func TestNodeProtocolSDKs(t *testing.T) {
	node := nodeOrSkip(t, "@anthropic-ai/sdk", "ai", "@ai-sdk/openai", "@ai-sdk/anthropic")
	g := protocolsGateway(t)
	run := "node-" + randHex(4)
	before := map[string]bool{} // entries of the node key from earlier runs (go test -count)
	if entries, err := g.ledger(500); err == nil {
		for _, e := range entries {
			before[e.RequestID] = true
		}
	}
	cmd := exec.CommandContext(ctxTimeout(t, 90*time.Second), node, "--test", "anthropic.test.mjs", "aisdk.test.mjs")
	cmd.Dir = "node"
	cmd.Env = append(os.Environ(),
		"SLUICE_ROOT_URL="+g.URL,
		"SLUICE_API_KEY="+nodeKey,
		"SLUICE_ANTHROPIC_MODEL="+tAnthropic.model,
		"SLUICE_OPENAI_MODEL="+tOpenAI.model,
		"SLUICE_E2E_MARKER="+run,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	t.Logf("node --test:\n%s", tail(string(out), 1500))

	// Where each request went: the client's protocol and the model decide the
	// upstream and its endpoint.
	type route struct{ api, model string }
	perMarker := map[string]int{}
	seen := map[route]int{}
	for _, kind := range []string{"openai", "anthropic", "gemini", "bedrock"} {
		for _, r := range upstreamLog(kind) {
			m := r.Header.Get("X-E2e-Marker")
			if !strings.HasPrefix(m, run+".") {
				continue
			}
			f := strings.SplitN(m, ".", 4) // run.api.model.case
			if len(f) != 4 {
				t.Errorf("marker %q", m)
				continue
			}
			rt := route{f[1], f[2]}
			seen[rt]++
			perMarker[m]++
			wantKind, wantPath := "anthropic", "/v1/messages"
			if rt.model == tOpenAI.model {
				wantKind, wantPath = "openai", "/v1/chat/completions"
				if rt.api == "responses" {
					wantPath = "/v1/responses"
				}
			}
			if kind != wantKind || r.Path != wantPath {
				t.Errorf("%s reached the %s upstream at %s, want the %s upstream at %s", m, kind, r.Path, wantKind, wantPath)
			}
			checkProvenance(t, kind, r)
			if r.Path == "/v1/responses" && strings.Contains(string(r.Body), "item_reference") {
				t.Errorf("%s: an item_reference reached the upstream: %s", m, r.Body)
			}
		}
	}
	for _, rt := range []route{
		{"anthropic", tAnthropic.model}, {"anthropic", tOpenAI.model},
		{"responses", tOpenAI.model}, {"responses", tAnthropic.model},
		{"chat", tOpenAI.model}, {"chat", tAnthropic.model},
	} {
		if seen[rt] == 0 {
			t.Errorf("no request of the %s protocol for %s reached an upstream", rt.api, rt.model)
		}
	}
	for m, n := range perMarker {
		if strings.Contains(strings.SplitN(m, ".", 4)[3], "tools") {
			if n != 2 {
				t.Errorf("%s: %d upstream requests, want 2 (the call and the answer to its result)", m, n)
			}
		}
	}

	// Every request of the run is in the ledger (entries are group-committed: wait for
	// them), ok, with reported usage and a cost.
	total := 0
	for _, n := range perMarker {
		total += n
	}
	var mine []LedgerEntry
	for deadline := time.Now().Add(5 * time.Second); ; {
		entries, err := g.ledger(500)
		if err != nil {
			t.Fatal(err)
		}
		mine = mine[:0]
		for _, e := range entries {
			if e.KeyName == "node" && e.Model != "no-such-model" && !before[e.RequestID] {
				mine = append(mine, e)
			}
		}
		if len(mine) >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	byEndpoint := map[string]int{}
	for _, e := range mine {
		byEndpoint[e.Endpoint]++
		if e.Status != "ok" || e.HTTPStatus != 200 || e.Estimated || e.InputTokens <= 0 || e.OutputTokens <= 0 || e.CostMicros <= 0 {
			raw, _ := json.Marshal(e)
			t.Errorf("ledger entry: want ok, reported usage and a cost: %s", raw)
		}
	}
	if len(mine) != total || byEndpoint["messages"] == 0 || byEndpoint["responses"] == 0 || byEndpoint["chat.completions"] == 0 {
		t.Errorf("ledger entries of the node key by endpoint %v (%d), want one per upstream request (%d) on each endpoint", byEndpoint, len(mine), total)
	}
}

// nodeOrSkip returns the node binary, or skips (SLUICE_E2E_SKIP_NODE=1) or fails
// with the command to run when the packages are not installed.
func nodeOrSkip(t *testing.T, packages ...string) string {
	t.Helper()
	if os.Getenv("SLUICE_E2E_SKIP_NODE") == "1" {
		t.Skip("SLUICE_E2E_SKIP_NODE=1")
	}
	for _, p := range packages {
		if _, err := os.Stat(filepath.Join("node", "node_modules", filepath.FromSlash(p), "package.json")); err != nil {
			t.Fatalf("e2e/node/node_modules/%s is missing: run `npm ci --prefix e2e/node` (or set SLUICE_E2E_SKIP_NODE=1)", p)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed (set SLUICE_E2E_SKIP_NODE=1 to skip)")
	}
	return node
}
