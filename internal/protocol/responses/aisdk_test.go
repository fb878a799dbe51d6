package responses

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/llm"
)

// TestAISDK runs the Vercel AI SDK (ai@6 with @ai-sdk/openai@3, which use
// the Responses API by default) against a server made of this codec and a
// scripted upstream: text, streams, a multi-step tool loop, structured
// output, reasoning with its encrypted content, and a failed stream. It
// needs node and the packages, which `make e2e-deps` installs in e2e/node
// (or SLUICE_AISDK_DIR names another directory that has them). Without
// them it skips, unless SLUICE_TEST_REQUIRE_AISDK=1 (as in CI).
func TestAISDK(t *testing.T) {
	skip := t.Skipf
	if os.Getenv("SLUICE_TEST_REQUIRE_AISDK") == "1" {
		skip = t.Fatalf
	}
	dir := os.Getenv("SLUICE_AISDK_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "e2e", "node")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@ai-sdk", "openai")); err != nil {
		skip("the AI SDK is not installed in %s (make e2e-deps): %v", dir, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("no node: %v", err)
	}
	ts := httptest.NewServer(http.HandlerFunc(aisdkHandler(t)))
	defer ts.Close()
	script, err := os.ReadFile(filepath.Join("testdata", "aisdk", "run.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	runner := filepath.Join(dir, "sluice-aisdk-run.mjs") // beside node_modules, where imports resolve
	if err := os.WriteFile(runner, script, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(runner) })
	cmd := exec.Command(node, runner)
	cmd.Env = append(os.Environ(), "BASE_URL="+ts.URL)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	results := map[string]map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		results[r["name"].(string)] = r
		t.Logf("%s", sc.Text())
	}
	str := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	checks := []struct{ name, field, want string }{
		{"generate", "text", `"Echo: hello there"`},
		{"generate", "finishReason", `"stop"`},
		{"stream", "text", `"Echo: stream me"`},
		{"tools", "text", `"Done: 18C in Paris"`},
		{"tools", "toolCalls", `[["weather",{"city":"Paris"}]]`},
		{"tools", "toolResults", `["18C in Paris"]`},
		{"tools-stream", "text", `"Done: 18C in Paris"`},
		{"tools-stream", "steps", `2`},
		{"object", "object", `{"name":"Tom"}`},
		{"reasoning", "reasoning", `"Let me think."`},
		{"reasoning", "text", `"42"`},
		{"reasoning", "encrypted", `"sig-123"`},
	}
	for _, c := range checks {
		if got := str(results[c.name][c.field]); got != c.want {
			t.Errorf("%s.%s = %s, want %s", c.name, c.field, got, c.want)
		}
	}
	if u := str(results["generate"]["usage"]); !strings.Contains(u, `"inputTokens":10`) || !strings.Contains(u, `"outputTokens":5`) {
		t.Errorf("generate usage = %s", u)
	}
	if e := str(results["tools-default-store"]["error"]); !strings.Contains(e, "store = false") {
		t.Errorf("tools-default-store = %s, want the item_reference 400", str(results["tools-default-store"]))
	}
	if r := results["fail"]; r["error"] == nil && r["finishReason"] != "error" {
		t.Errorf("fail = %s, want an error", str(r))
	}
}

// aisdkHandler serves POST /responses with the codec and a scripted upstream.
func aisdkHandler(t *testing.T) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := Client.DecodeRequest(body, "")
		if err != nil {
			var e *llm.Error
			errors.As(err, &e)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(e.Status)
			_, _ = w.Write(Client.EncodeError(e))
			return
		}
		parts, stop, fail := scriptedAnswer(req)
		usage := llm.Usage{InputTokens: 10, OutputTokens: 5, CachedTokens: 4}
		if !req.Stream {
			out, err := Client.EncodeResponse(req, &llm.Response{ID: "up-1", Model: req.Model, Content: parts, StopReason: stop, Usage: usage})
			if err != nil {
				t.Error(err)
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(out)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		sw := Client.NewStreamWriter(w, req)
		_ = sw.Write(llm.Event{Type: llm.EvStart, ID: "up-1", Model: req.Model})
		for i, p := range parts {
			block := p
			block.Text, block.Arguments, block.Signature = "", nil, ""
			_ = sw.Write(llm.Event{Type: llm.EvBlockStart, Index: i, Block: &block})
			switch p.Type {
			case llm.PartText:
				_ = sw.Write(llm.Event{Type: llm.EvTextDelta, Index: i, Text: p.Text})
			case llm.PartThinking:
				_ = sw.Write(llm.Event{Type: llm.EvThinkingDelta, Index: i, Text: p.Text})
				_ = sw.Write(llm.Event{Type: llm.EvSignatureDelta, Index: i, Text: p.Signature})
			case llm.PartToolCall:
				_ = sw.Write(llm.Event{Type: llm.EvToolArgsDelta, Index: i, Text: string(p.Arguments)})
			}
			if fail {
				_ = sw.Fail(&llm.Error{Status: 502, Type: "server", Message: "upstream cut"})
				return
			}
			_ = sw.Write(llm.Event{Type: llm.EvBlockStop, Index: i})
		}
		_ = sw.Write(llm.Event{Type: llm.EvStop, StopReason: stop, Usage: &usage})
	}
}

// scriptedAnswer is the upstream's answer to a request.
func scriptedAnswer(req *llm.Request) (parts []llm.Part, stop llm.StopReason, fail bool) {
	last := req.Messages[len(req.Messages)-1]
	var text, result string
	for _, p := range last.Content {
		switch p.Type {
		case llm.PartText:
			text = p.Text
		case llm.PartToolResult:
			for _, c := range p.Content {
				result += c.Text
			}
		}
	}
	switch {
	case result != "":
		return []llm.Part{{Type: llm.PartText, Text: "Done: " + result}}, llm.StopEndTurn, false
	case len(req.Tools) > 0:
		return []llm.Part{{Type: llm.PartText, Text: "Let me check."},
			{Type: llm.PartToolCall, ToolCallID: "toolu_1", ToolName: "weather", Arguments: json.RawMessage(`{"city":"Paris"}`)}}, llm.StopToolUse, false
	case req.ResponseFormat != nil && req.ResponseFormat.Type == "json_schema":
		return []llm.Part{{Type: llm.PartText, Text: `{"name":"Tom"}`}}, llm.StopEndTurn, false
	case req.Thinking != nil:
		return []llm.Part{{Type: llm.PartThinking, Text: "Let me think.", Signature: "sig-123"}, {Type: llm.PartText, Text: "42"}}, llm.StopEndTurn, false
	}
	return []llm.Part{{Type: llm.PartText, Text: "Echo: " + text}}, llm.StopEndTurn, text == "fail please"
}
