package fakeanthropic

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/bench/internal/fakeopenai"
)

func TestServer(t *testing.T) {
	ts := httptest.NewServer(NewServer(Options{Chunks: 3}))
	defer ts.Close()
	content := "hello \"bench\""
	msg, _ := json.Marshal(content)
	blocks, _ := json.Marshal([]map[string]string{{"type": "text", "text": "hello "}, {"type": "text", "text": "\"bench\""}})
	auth := map[string]string{"X-Api-Key": "k", "Anthropic-Version": "2023-06-01"}

	tests := []struct {
		name   string
		body   string
		hdr    map[string]string
		status int
		want   []byte
	}{
		{"message", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":` + string(msg) + `}]}`, auth,
			200, AppendMessage(nil, ID(content), fakeopenai.PromptTokens(content))},
		{"content blocks", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":` + string(blocks) + `}]}`, auth,
			200, AppendMessage(nil, ID(content), fakeopenai.PromptTokens(content))},
		{"stream", `{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":` + string(msg) + `}]}`, auth,
			200, AppendStream(nil, content, 3)},
		{"stream, chunks by header", `{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":` + string(msg) + `}]}`,
			map[string]string{"X-Api-Key": "k", "Anthropic-Version": "2023-06-01", "X-Fake-Chunks": "1"}, 200, AppendStream(nil, content, 1)},
		{"no key", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`,
			map[string]string{"Anthropic-Version": "2023-06-01"}, 401, nil},
		{"no version", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`,
			map[string]string{"X-Api-Key": "k"}, 400, nil},
		{"no max_tokens", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, auth, 400, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, ts.URL+"/v1/messages", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, got)
			}
			if tc.want != nil && !bytes.Equal(got, tc.want) {
				t.Fatalf("body\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestWire checks that every event is valid JSON whose type is the event's
// name, in the order Anthropic sends them.
func TestWire(t *testing.T) {
	var v map[string]any
	if err := json.Unmarshal(AppendMessage(nil, ID("x"), 3), &v); err != nil {
		t.Fatalf("message: %v", err)
	}
	var names []string
	for ev := range bytes.SplitSeq(bytes.TrimSuffix(AppendStream(nil, "x", 2), []byte("\n\n")), []byte("\n\n")) {
		name, data, ok := bytes.Cut(ev, []byte("\ndata: "))
		if !ok || !bytes.HasPrefix(name, []byte("event: ")) {
			t.Fatalf("malformed event %q", ev)
		}
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("event %q: %v", ev, err)
		}
		if n := string(name[len("event: "):]); v["type"] != n {
			t.Fatalf("event %s has type %v", n, v["type"])
		}
		names = append(names, v["type"].(string))
	}
	want := "message_start content_block_start content_block_delta content_block_delta content_block_stop message_delta message_stop"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
}
