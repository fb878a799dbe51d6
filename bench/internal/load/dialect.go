// Package load is the benchmark's load generator: a closed-loop non-stream
// runner and a concurrent SSE stream reader that checks every stream.
package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/bench/internal/fakeopenai"
)

// A Dialect is the client side of one API shape: it builds request bodies
// and checks what comes back. NewOpenAI is the same protocol as the fake
// upstream, so it checks bytes exactly. The dialects for translated paths
// (NewAnthropic, NewOpenAITranslated; semantic.go) rebuild the text the
// fakes sent from the chunk markers (fakeopenai.ChunkContent) and check
// text, order, usage and the terminal event instead.
//
// Implementations must be safe for concurrent use.
type Dialect interface {
	// Path is the request path, e.g. "/v1/chat/completions".
	Path() string
	// SetHeaders adds the dialect's own headers (content type, version
	// headers) to a request; credentials belong to the Target.
	SetHeaders(h http.Header)
	// Call returns non-stream request i.
	Call(i int) Call
	// Stream returns stream request i of a run; nonce makes the run's
	// bodies unique.
	Stream(nonce string, i int) StreamCall
}

// Call is one non-stream request.
type Call struct {
	Body []byte
	// Check checks a 200 response body. exact reports a byte-exact match
	// with what the upstream sent; err means the response is wrong.
	Check func(body []byte) (exact bool, err error)
}

// StreamCall is one stream request.
type StreamCall struct {
	Body []byte
	// Want is the exact stream the upstream sends, to size buffers.
	Want []byte
	// Verify checks the stream as received.
	Verify func(got []byte) fakeopenai.Verdict
}

// OpenAI is the OpenAI chat completions dialect. From NewOpenAI it talks
// (directly or through a proxy that forwards bytes) to fakeopenai and checks
// bytes; from NewOpenAITranslated it checks text and usage, whatever the
// upstream's protocol.
type OpenAI struct {
	model      string
	chunks     int
	calls      []Call
	prompt     []int // prompt_tokens the fake reports for calls[i]
	translated bool  // semantic checks
}

var _ Dialect = (*OpenAI)(nil)

// bodyVariants is the number of distinct non-stream bodies, spread evenly
// over 1–4 KiB.
const bodyVariants = 16

// NewOpenAI returns the dialect that asks for model and expects streams of
// the given number of content chunks (the fake's -chunks).
func NewOpenAI(model string, chunks int) *OpenAI {
	d := &OpenAI{model: model, chunks: chunks}
	for i := range bodyVariants {
		content := filler(fmt.Sprintf("bench request %d: ", i), bodySize(i, bodyVariants))
		want := fakeopenai.AppendCompletion(nil, fakeopenai.ID(content), fakeopenai.PromptTokens(content))
		id := []byte(`"id":"` + fakeopenai.ID(content) + `"`)
		d.prompt = append(d.prompt, fakeopenai.PromptTokens(content))
		d.calls = append(d.calls, Call{
			Body: d.body(content, false),
			Check: func(got []byte) (bool, error) {
				if bytes.Equal(got, want) {
					return true, nil
				}
				if !bytes.Contains(got, id) || !bytes.Contains(got, []byte(`"usage"`)) {
					return false, fmt.Errorf("unexpected body %.200q", got)
				}
				return false, nil
			},
		})
	}
	return d
}

// bodySize spreads sizes over [1024, 4096] bytes.
func bodySize(i, n int) int { return 1024 + (3072*(i%n))/(n-1) }

// filler returns prefix followed by words up to n bytes of content; the
// whole JSON body is about 100 bytes longer.
func filler(prefix string, n int) string {
	const words = "the quick brown fox jumps over the lazy dog while a gateway meters tokens "
	var b strings.Builder
	b.Grow(n)
	b.WriteString(prefix)
	for b.Len() < n {
		b.WriteString(words[:min(len(words), n-b.Len())])
	}
	return b.String()
}

func (d *OpenAI) body(content string, stream bool) []byte {
	m := map[string]any{
		"model":      d.model,
		"messages":   []map[string]string{{"role": "user", "content": content}},
		"max_tokens": 64,
	}
	if stream {
		m["stream"] = true
		m["stream_options"] = map[string]bool{"include_usage": true}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // static shapes only
	}
	return b
}

// Path implements Dialect.
func (d *OpenAI) Path() string { return "/v1/chat/completions" }

// SetHeaders implements Dialect.
func (d *OpenAI) SetHeaders(h http.Header) { h.Set("Content-Type", "application/json") }

// Call implements Dialect.
func (d *OpenAI) Call(i int) Call { return d.calls[i%len(d.calls)] }

// PromptTokens returns the prompt_tokens the fake reports for Call(i), to
// check what a gateway metered.
func (d *OpenAI) PromptTokens(i int) int { return d.prompt[i%len(d.prompt)] }

// Stream implements Dialect.
func (d *OpenAI) Stream(nonce string, i int) StreamCall {
	content := filler(fmt.Sprintf("bench stream %s-%d: ", nonce, i), bodySize(i, 61))
	want := fakeopenai.AppendStream(nil, content, d.chunks, true)
	if d.translated {
		prompt, chunks := fakeopenai.PromptTokens(content), d.chunks
		return StreamCall{
			Body:   d.body(content, true),
			Want:   want,
			Verify: func(got []byte) fakeopenai.Verdict { return verifyOpenAIStream(got, prompt, chunks) },
		}
	}
	return StreamCall{
		Body:   d.body(content, true),
		Want:   want,
		Verify: func(got []byte) fakeopenai.Verdict { return fakeopenai.Verify(got, want) },
	}
}
