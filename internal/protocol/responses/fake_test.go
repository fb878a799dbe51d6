package responses

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
	"github.com/sluicehq/sluice/internal/llm"
)

// These tests check the fake OpenAI upstream's /v1/responses against the
// tap and the client codec, which follow the Responses wire format.

func postFake(t *testing.T, url, body string, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/responses", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatal(err)
	}
	return resp, b
}

func tapAll(t *testing.T, stream []byte) (folded, bool) {
	t.Helper()
	tap := NewTap()
	var evs []llm.Event
	if err := tap.Feed(stream, func(ev llm.Event) { evs = append(evs, ev) }); err != nil {
		t.Fatalf("tap: %v\n%s", err, stream)
	}
	return fold(evs), tap.Done()
}

func TestFakeResponses(t *testing.T) {
	_, base := openaifake.Start(t, openaifake.Options{})
	weather := `"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]`
	tests := []struct {
		name, body string
		headers    map[string]string
		want       folded
		status     string
	}{
		{name: "text", body: `{"model":"m","input":"hello there"}`,
			want: folded{Text: "Echo: hello there", Stop: llm.StopEndTurn, Usage: &llm.Usage{InputTokens: 2, OutputTokens: 3}}, status: "completed"},
		{name: "items", body: `{"model":"m","instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"a b"}]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"c"}]},{"role":"user","content":"d e f"}]}`,
			want: folded{Text: "Echo: d e f", Stop: llm.StopEndTurn, Usage: &llm.Usage{InputTokens: 8, OutputTokens: 4}}, status: "completed"},
		{name: "function call", body: `{"model":"m","input":"Paris",` + weather + `}`,
			want: folded{Tools: []string{`get_weather {"city":"Paris"}`}, Stop: llm.StopToolUse, Usage: &llm.Usage{InputTokens: 1, OutputTokens: 2}}, status: "completed"},
		{name: "function output", body: `{"model":"m",` + weather + `,"input":[{"role":"user","content":"Paris"},{"type":"function_call","call_id":"c1","name":"get_weather","arguments":"{}"},{"type":"function_call_output","call_id":"c1","output":"sunny"}]}`,
			want: folded{Text: "Echo: sunny", Stop: llm.StopEndTurn, Usage: &llm.Usage{InputTokens: 2, OutputTokens: 2}}, status: "completed"},
		{name: "tool choice none", body: `{"model":"m","input":"hi","tool_choice":"none",` + weather + `}`,
			want: folded{Text: "Echo: hi", Stop: llm.StopEndTurn, Usage: &llm.Usage{InputTokens: 1, OutputTokens: 2}}, status: "completed"},
		{name: "max output tokens", body: `{"model":"m","input":"one two three four","max_output_tokens":2}`,
			want: folded{Text: "Echo: one", Stop: llm.StopMaxTokens, Usage: &llm.Usage{InputTokens: 4, OutputTokens: 2}}, status: "incomplete"},
		{name: "usage overrides", body: `{"model":"m","input":"hi"}`,
			headers: map[string]string{openaifake.HeaderPromptTokens: "100", openaifake.HeaderCompletionTokens: "7", openaifake.HeaderCachedTokens: "60", openaifake.HeaderChunks: "3"},
			want:    folded{Text: "Echo: hi lorem", Stop: llm.StopEndTurn, Usage: &llm.Usage{InputTokens: 100, OutputTokens: 7, CachedTokens: 60}}, status: "completed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Non-streamed: the body's output and usage.
			resp, body := postFake(t, base, tc.body, tc.headers)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var r struct {
				Object string `json:"object"`
				Status string `json:"status"`
				Output []struct {
					Type      string                  `json:"type"`
					Content   []struct{ Text string } `json:"content"`
					Arguments string                  `json:"arguments"`
				} `json:"output"`
			}
			if err := json.Unmarshal(body, &r); err != nil || r.Object != "response" || r.Status != tc.status || len(r.Output) != 1 {
				t.Fatalf("body = %s (%v)", body, err)
			}
			u, ok := UsageFromBody(body)
			if !ok || u != *tc.want.Usage {
				t.Errorf("usage = %+v, %v; want %+v", u, ok, *tc.want.Usage)
			}
			// Streamed: the tap reads it whole.
			stream := strings.Replace(tc.body, `{"model":"m",`, `{"model":"m","stream":true,`, 1)
			resp, sse := postFake(t, base, stream, tc.headers)
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Fatalf("content type %q", ct)
			}
			got, done := tapAll(t, sse)
			if !done {
				t.Fatalf("stream not done:\n%s", sse)
			}
			for i, call := range got.Tools { // the id depends on the arrival order
				if !strings.HasPrefix(call, "call_fake") {
					t.Errorf("tool call id in %q", call)
				}
				_, got.Tools[i], _ = strings.Cut(call, " ")
			}
			if got.Usage == nil || *got.Usage != *tc.want.Usage || got.Text != tc.want.Text || got.Stop != tc.want.Stop ||
				strings.Join(got.Tools, "|") != strings.Join(tc.want.Tools, "|") {
				t.Errorf("stream = %+v (usage %+v), want %+v (usage %+v)\n%s", got, got.Usage, tc.want, tc.want.Usage, sse)
			}
			if !bytes.Contains(sse, []byte("event: response.created\ndata: {")) {
				t.Errorf("no named response.created event:\n%s", sse)
			}
		})
	}
}

func TestFakeResponsesFaults(t *testing.T) {
	fake, base := openaifake.Start(t, openaifake.Options{})
	body := `{"model":"m","input":"a b c d","stream":true}`

	_, sse := postFake(t, base, body, map[string]string{openaifake.HeaderCutAfter: "4"})
	if _, done := tapAll(t, sse); done {
		t.Errorf("a stream cut after 4 events is done:\n%s", sse)
	}
	if last, _ := fake.Last(); last.Path != "/v1/responses" || last.Events != 4 {
		t.Errorf("recorded %s with %d events, want /v1/responses with 4", last.Path, last.Events)
	}

	resp, errBody := postFake(t, base, body, map[string]string{openaifake.HeaderStatus: "429"})
	if resp.StatusCode != 429 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !strings.Contains(string(errBody), `"rate_limit_exceeded"`) {
		t.Errorf("error body %s", errBody)
	}

	resp, errBody = postFake(t, base, `{"model":"m"}`, nil)
	if resp.StatusCode != 400 || !strings.Contains(string(errBody), `"param":"input"`) {
		t.Errorf("no input: %d %s", resp.StatusCode, errBody)
	}

	_, sse = postFake(t, base, body, map[string]string{openaifake.HeaderUsage: "none"})
	got, done := tapAll(t, sse)
	if !done || got.Usage == nil || *got.Usage != (llm.Usage{}) {
		t.Errorf("usage none: done %v usage %+v", done, got.Usage)
	}
}

// TestFakeResponsesThroughClient renders the fake's streamed answer, read
// by the tap, with the client codec's writer, and reads it back.
func TestFakeResponsesThroughClient(t *testing.T) {
	_, base := openaifake.Start(t, openaifake.Options{})
	_, sse := postFake(t, base, `{"model":"m","input":"x y","stream":true}`, nil)
	var out bytes.Buffer
	w := testClient.NewStreamWriter(&out, &llm.Request{Model: "m"})
	tap := NewTap()
	if err := tap.Feed(sse, func(ev llm.Event) { _ = w.Write(ev) }); err != nil {
		t.Fatal(err)
	}
	again, done := tapAll(t, out.Bytes())
	if !done || again.Text != "Echo: x y" {
		t.Errorf("re-rendered stream: %+v done %v\n%s", again, done, out.String())
	}
}
