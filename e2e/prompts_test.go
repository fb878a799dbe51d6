package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"
)

// promptsConfig is the suite's configuration with the prompts block of the
// contract (docs/prompts.md), a second version, and the model it calls.
func promptsConfig() string {
	cfg := strings.Replace(configYAML(fakeURL), "models:\n", "models:\n  - name: gpt-4o-mini\n    targets: [{provider: up, model: fake-model-1}]\n", 1)
	return cfg + `orgs:
  - name: acme
    teams: [{name: search}]
prompts:
  - name: summarize
    team: acme/search
    protected: [production]
    versions:
      - version: 1
        model: gpt-4o-mini
        messages:
          - {role: system, content: "You summarise text."}
          - {role: user, content: "Summarise: {{text}}"}
        variables: {type: object, required: [text], additionalProperties: false,
                    properties: {text: {type: string, maxLength: 2000}}}
      - version: 2
        model: gpt-4o-mini
        message: shorter answers
        messages:
          - {role: system, content: "You summarise text in one line."}
          - {role: user, content: "Briefly: {{text}}"}
        variables: {type: object, required: [text], properties: {text: {type: string, maxLength: 2000}}}
    labels: {production: 1, staging: 2}
`
}

// promptPost posts a body to a prompt with key and returns the response
// and its body.
func promptPost(t *testing.T, base, path, key, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestPrompts: the contract over plain HTTP, the prompt API through the
// OpenAI SDK (streamed and not), the Responses prompt field, the OpenAPI
// document, the ledger's prompt columns, label moves and rollback, and
// `sluice prompts test` with a passing and a failing test set.
func TestPrompts(t *testing.T) {
	g, err := newGatewayWithConfig("prompts", promptsConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log tail:\n%s", g.log.tail(6000))
		}
		g.kill()
	})

	// The contract.
	marker, match := withMarker()
	resp, body := promptPost(t, g.URL, "/prompts/summarize", allKey, `{"variables": {"text": "hello {{text}} world"}}`, "X-E2e-Marker", marker)
	if resp.StatusCode != 200 || resp.Header.Get("X-Sluice-Prompt") != "summarize@1" || gjson.Get(body, "object").String() != "chat.completion" {
		t.Fatalf("contract: %d %q %s", resp.StatusCode, resp.Header.Get("X-Sluice-Prompt"), body)
	}
	up := fakeRequest(t, "the contract's request", match)
	msgs := gjson.GetBytes(up.Body, "messages").Array()
	if len(msgs) != 2 || msgs[1].Get("content").String() != "Summarise: hello {{text}} world" || msgs[1].Get("role").String() != "user" {
		t.Fatalf("upstream messages %s", gjson.GetBytes(up.Body, "messages").Raw)
	}
	contractID := resp.Header.Get("X-Request-Id")
	resp, body = promptPost(t, g.URL, "/prompts/summarize", allKey, `{"variables": {}}`)
	if resp.StatusCode != 400 || gjson.Get(body, "error.param").String() != "/text" || !strings.Contains(gjson.Get(body, "error.message").String(), "/text") {
		t.Fatalf("missing variable: %d %s", resp.StatusCode, body)
	}

	// The ledger row names the prompt, version and label.
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, list := adminJSON(t, g, "GET", "/admin/v1/requests?limit=20", "")
		row := gjson.Get(list, fmt.Sprintf(`data.#(request_id=="%s")`, contractID))
		if code == 200 && row.Exists() {
			if row.Get("prompt").String() != "summarize" || row.Get("prompt_version").Int() != 1 || row.Get("prompt_label").String() != "production" {
				t.Fatalf("ledger row %s", row.Raw)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ledger row for %s: %d %s", contractID, code, list)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The OpenAI SDK reads the answers as chat completions, streamed and not.
	sdk := func(key string, mw ...option.Middleware) openai.Client {
		opts := []option.RequestOption{option.WithBaseURL(g.URL + "/"), option.WithAPIKey(key), option.WithMaxRetries(0),
			option.WithRequestTimeout(30 * time.Second)}
		for _, m := range mw {
			opts = append(opts, option.WithMiddleware(m))
		}
		return openai.NewClient(opts...)
	}
	var cc openai.ChatCompletion
	var httpResp *http.Response
	c := sdk(allKey)
	if err := c.Post(ctxTimeout(t, 10*time.Second), "prompts/summarize@staging", map[string]any{"variables": map[string]string{"text": "sdk call"}},
		&cc, option.WithResponseInto(&httpResp)); err != nil {
		t.Fatal(err)
	}
	if cc.Object != "chat.completion" || len(cc.Choices) != 1 || !strings.Contains(cc.Choices[0].Message.Content, "Briefly: sdk call") ||
		httpResp.Header.Get("X-Sluice-Prompt") != "summarize@2" {
		t.Fatalf("SDK: %+v %q", cc, httpResp.Header.Get("X-Sluice-Prompt"))
	}
	// Streaming: the SDK's own chat stream, its request sent to the prompt.
	toPrompt := func(path string, vars map[string]string) option.Middleware {
		return func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
			b, _ := json.Marshal(map[string]any{"variables": vars, "stream": true})
			req.URL.Path = path
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
			return next(req)
		}
	}
	streamed := sdk(allKey, toPrompt("/prompts/summarize", map[string]string{"text": "stream me please"}))
	stream := streamed.Chat.Completions.NewStreaming(ctxTimeout(t, 10*time.Second), openai.ChatCompletionNewParams{Model: "ignored",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("ignored")}})
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil || chunks < 2 || !strings.Contains(acc.Choices[0].Message.Content, "stream me please") {
		t.Fatalf("stream: %d chunks, %+v, %v", chunks, acc.Choices, err)
	}
	// A key that may not use the prompt's model is refused in OpenAI's shape.
	dev := sdk(devKey)
	err = dev.Post(ctxTimeout(t, 10*time.Second), "prompts/summarize", map[string]any{"variables": map[string]string{"text": "x"}}, &cc)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 403 || apiErr.Code != "model_not_allowed" {
		t.Fatalf("dev key: %v", err)
	}

	// The Responses API's prompt field.
	marker, match = withMarker()
	rc := openai.NewClient(option.WithBaseURL(g.URL+"/v1"), option.WithAPIKey(allKey), option.WithMaxRetries(0),
		option.WithHeader("X-E2e-Marker", marker))
	r, err := rc.Responses.New(ctxTimeout(t, 10*time.Second), responses.ResponseNewParams{Prompt: responses.ResponsePromptParam{
		ID: "summarize", Version: openai.String("2"),
		Variables: map[string]responses.ResponsePromptVariableUnionParam{"text": {OfString: openai.String("respond {{text}}")}},
	}}, option.WithResponseInto(&httpResp))
	if err != nil || httpResp.Header.Get("X-Sluice-Prompt") != "summarize@2" || r.OutputText() == "" {
		t.Fatalf("responses: %v %q", err, httpResp.Header.Get("X-Sluice-Prompt"))
	}
	up = fakeRequest(t, "the responses request", match)
	if in := gjson.GetBytes(up.Body, "input"); len(in.Array()) != 2 || in.Array()[1].Get("content").String() != "Briefly: respond {{text}}" ||
		gjson.GetBytes(up.Body, "prompt").Exists() {
		t.Fatalf("upstream responses body %s", up.Body)
	}

	// The OpenAPI document.
	req, _ := http.NewRequest("GET", g.URL+"/prompts/summarize/openapi.json", nil)
	req.Header.Set("Authorization", "Bearer "+allKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(res.Body)
	res.Body.Close()
	vars := gjson.GetBytes(doc, `paths./prompts/summarize.post.requestBody.content.application/json.schema.properties.variables`)
	if res.StatusCode != 200 || gjson.GetBytes(doc, "openapi").String() != "3.1.0" || vars.Get("properties.text.type").String() != "string" ||
		vars.Get("required.0").String() != "text" {
		t.Fatalf("openapi: %d %s", res.StatusCode, doc)
	}

	// Labels move at once on this node, audited; rollback is one call.
	serves := func(want string) {
		t.Helper()
		resp, body := promptPost(t, g.URL, "/prompts/summarize", allKey, `{"variables":{"text":"x"}}`)
		if resp.StatusCode != 200 || resp.Header.Get("X-Sluice-Prompt") != want {
			t.Fatalf("production serves %d %q %s, want %s", resp.StatusCode, resp.Header.Get("X-Sluice-Prompt"), body, want)
		}
	}
	if code, body := adminJSON(t, g, "PUT", "/admin/v1/prompts/summarize/labels/production", `{"version":2,"reason":"ship it"}`); code != 200 {
		t.Fatalf("move: %d %s", code, body)
	}
	serves("summarize@2")
	if code, body := adminJSON(t, g, "POST", "/admin/v1/prompts/summarize/labels/production/rollback", `{"reason":"too short"}`); code != 200 {
		t.Fatalf("rollback: %d %s", code, body)
	}
	serves("summarize@1")
	code, hist := adminJSON(t, g, "GET", "/admin/v1/prompts/summarize/history?label=production", "")
	if code != 200 || gjson.Get(hist, "data.#").Int() != 3 || gjson.Get(hist, "data.0.reason").String() != "too short" ||
		gjson.Get(hist, "data.2.actor").String() != "config-file" {
		t.Fatalf("history: %d %s", code, hist)
	}

	// sluice prompts test: a passing set exits 0, a failing one 1; runs are stored.
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass.jsonl")
	fail := filepath.Join(dir, "fail.jsonl")
	writeCases(t, pass, `{"name":"echoes the text","variables":{"text":"hello world"},"assert":[{"type":"contains","value":"hello world"},{"type":"max_latency_ms","value":10000},{"type":"max_cost_usd","value":1}]}`,
		`{"name":"no leak","variables":{"text":"tea"},"assert":[{"type":"not_contains","value":"coffee"},{"type":"regex","value":"(?i)tea"}]}`)
	writeCases(t, fail, `{"name":"wants a word it never says","variables":{"text":"hello"},"assert":[{"type":"contains","value":"absent-word"}]}`,
		`{"name":"bad variables","variables":{"txt":"hello"},"assert":[{"type":"contains","value":"hello"}]}`)
	out, code2 := runCLI(t, g, "prompts", "test", "summarize", "--version", "1", "--cases", pass, "--compare", "2", "--key", allKey)
	if code2 != 0 || !strings.Contains(out, "2/2") || strings.Contains(out, "FAIL") {
		t.Fatalf("passing set: exit %d\n%s", code2, out)
	}
	out, code2 = runCLI(t, g, "prompts", "test", "summarize", "--version", "1", "--cases", fail, "--key", allKey)
	if code2 != 1 || !strings.Contains(out, "FAIL contains") || !strings.Contains(out, "/text: is required") || !strings.Contains(out, "0/2") {
		t.Fatalf("failing set: exit %d\n%s", code2, out)
	}
	code, runs := adminJSON(t, g, "GET", "/admin/v1/prompts/summarize/test-runs?version=1", "")
	if code != 200 || gjson.Get(runs, "data.#").Int() != 2 || gjson.Get(runs, "data.0.passed").Int() != 0 || gjson.Get(runs, "data.1.passed").Int() != 2 {
		t.Fatalf("stored runs: %d %s", code, runs)
	}
	// The admin API runs a test set through the same gateway, in process.
	code, ran := adminJSON(t, g, "POST", "/admin/v1/prompts/summarize/test", fmt.Sprintf(
		`{"version":2,"api_key":%q,"cases":[{"name":"echo","variables":{"text":"admin run"},"assert":[{"type":"contains","value":"Briefly: admin run"}]}]}`, allKey))
	if code != 200 || !gjson.Get(ran, "passed").Bool() || gjson.Get(ran, "runs.0.passed").Int() != 1 || gjson.Get(ran, "runs.0.summary.input_tokens").Int() <= 0 {
		t.Fatalf("admin test run: %d %s", code, ran)
	}
	out, code2 = runCLI(t, g, "prompts", "diff", "summarize", "1", "2")
	if code2 != 0 || !strings.Contains(out, "+  Briefly: {{text}}") {
		t.Fatalf("diff: exit %d\n%s", code2, out)
	}
}

func writeCases(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// runCLI runs the gateway binary as a client of g and returns its output
// and exit status.
func runCLI(t *testing.T, g *gateway, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binPath, append(args, "--server", g.URL)...)
	cmd.Env = append(os.Environ(), "SLUICE_ADMIN_TOKEN="+adminToken)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// TestPromptLabelsOnTwoNodes: a label moved on one node is served by the
// other within two seconds, and a split label gives each user the same
// version on both nodes.
func TestPromptLabelsOnTwoNodes(t *testing.T) {
	c := startCluster(t, "prompts-cluster", promptsConfig(), false)
	version := func(node int, user string) string {
		t.Helper()
		resp, body := promptPost(t, c.nodes[node].URL, "/prompts/summarize", allKey, fmt.Sprintf(`{"variables":{"text":"x"},"user":%q}`, user))
		if resp.StatusCode != 200 {
			t.Fatalf("node %d: %d %s", node+1, resp.StatusCode, body)
		}
		return resp.Header.Get("X-Sluice-Prompt")
	}
	if got := version(1, "u"); got != "summarize@1" {
		t.Fatalf("node 2 serves %s before the move", got)
	}
	moved := time.Now()
	c.mustAdmin(0, "PUT", "/admin/v1/prompts/summarize/labels/production", map[string]any{"version": 2}, nil, 200)
	for version(1, "u") != "summarize@2" {
		if time.Since(moved) > 2*time.Second {
			t.Fatal("node 2 still serves version 1 two seconds after the move")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("node 2 served the moved label after %v", time.Since(moved).Round(time.Millisecond))

	c.mustAdmin(0, "PUT", "/admin/v1/prompts/summarize/labels/production",
		map[string]any{"version": 1, "split_version": 2, "split_weight": 50, "sticky": "user"}, nil, 200)
	time.Sleep(2 * time.Second) // both nodes have the split by now
	seen := map[string]int{}
	for i := range 24 {
		user := fmt.Sprintf("user-%d", i)
		a, b := version(0, user), version(1, user)
		if a != b || a != version(0, user) {
			t.Fatalf("%s got %s on node 1 and %s on node 2", user, a, b)
		}
		seen[a]++
	}
	if seen["summarize@1"] == 0 || seen["summarize@2"] == 0 {
		t.Fatalf("a 50%% split gave %v over 24 users", seen)
	}
}
