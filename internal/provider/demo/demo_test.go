package demo

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func post(t *testing.T, path, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, BaseURL+path, strings.NewReader(body))
	resp, err := Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestChatIsDeterministic(t *testing.T) {
	body := `{"model":"demo-chat","messages":[{"role":"user","content":"hello there"}]}`
	var first []byte
	for range 2 {
		resp := post(t, "/chat/completions", body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out struct {
			Choices []struct{ Message struct{ Content string } }
			Usage   struct{ PromptTokens, CompletionTokens int } `json:"usage"`
		}
		if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		if !strings.Contains(out.Choices[0].Message.Content, "hello there") {
			t.Fatalf("content %q", out.Choices[0].Message.Content)
		}
		// created and the id vary with time only in "created"; content is stable.
		if first == nil {
			first = []byte(out.Choices[0].Message.Content)
		} else if !bytes.Equal(first, []byte(out.Choices[0].Message.Content)) {
			t.Fatal("answers differ")
		}
	}
}

func TestStreamEndsWithUsageAndDone(t *testing.T) {
	chunkGap = 0
	resp := post(t, "/chat/completions", `{"model":"d","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
	b, _ := io.ReadAll(resp.Body)
	s := string(b)
	if !strings.HasSuffix(s, "data: [DONE]\n\n") || !strings.Contains(s, `"usage"`) || !strings.Contains(s, `"finish_reason":"stop"`) {
		t.Fatalf("stream %s", s)
	}
}

func TestEmbeddings(t *testing.T) {
	resp := post(t, "/embeddings", `{"model":"e","input":["a","b"],"dimensions":8}`)
	var out struct {
		Data []struct{ Embedding []float64 } `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Data) != 2 || len(out.Data[0].Embedding) != 8 {
		t.Fatalf("%+v %v", out, err)
	}
}

func TestBadJSON(t *testing.T) {
	if resp := post(t, "/chat/completions", `{`); resp.StatusCode != 400 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
