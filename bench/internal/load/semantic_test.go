package load

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/bench/internal/fakeanthropic"
	"github.com/sluicehq/sluice/bench/internal/fakeopenai"
)

// TestSemanticDialectsAgainstFakes runs the semantic dialects against the
// fake of their own protocol: both fakes send the text and usage the
// dialects expect, so every request and stream must pass.
func TestSemanticDialectsAgainstFakes(t *testing.T) {
	opts := struct {
		chunks int
		gap    time.Duration
	}{5, time.Millisecond}
	anth := httptest.NewServer(fakeanthropic.NewServer(fakeanthropic.Options{Chunks: opts.chunks, Gap: opts.gap}))
	defer anth.Close()
	oai := httptest.NewServer(fakeopenai.NewServer(fakeopenai.Options{Chunks: opts.chunks, Gap: opts.gap}))
	defer oai.Close()

	tests := []struct {
		name   string
		target Target
	}{
		{"anthropic", Target{Name: "a", BaseURL: anth.URL, Header: http.Header{"X-Api-Key": {"k"}},
			Dialect: NewAnthropic("m", opts.chunks)}},
		{"openai translated", Target{Name: "o", BaseURL: oai.URL, Dialect: NewOpenAITranslated("m", opts.chunks)}},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cr := Closed(ctx, tc.target, ClosedOptions{Conns: 2, Warmup: 20 * time.Millisecond, Duration: 150 * time.Millisecond})
			if cr.Requests == 0 || cr.Errors != 0 || cr.Exact != 0 {
				t.Fatalf("closed: %+v", cr)
			}
			sr := Streams(ctx, tc.target, StreamOptions{Streams: 10, Ramp: 10 * time.Millisecond, Timeout: 5 * time.Second, Nonce: "t"})
			if sr.OK != 10 {
				t.Fatalf("streams: %+v", sr)
			}
		})
	}
}

// TestAnthropicNeedsKey checks that the fake refuses what Anthropic
// refuses, so that a gateway that drops the key or the version is caught.
func TestAnthropicNeedsKey(t *testing.T) {
	anth := httptest.NewServer(fakeanthropic.NewServer(fakeanthropic.Options{Chunks: 2}))
	defer anth.Close()
	cr := Closed(context.Background(), Target{Name: "a", BaseURL: anth.URL, Dialect: NewAnthropic("m", 2)},
		ClosedOptions{Conns: 1, Duration: 50 * time.Millisecond})
	if cr.Requests != 0 || cr.Errors == 0 || !strings.Contains(cr.FirstError, "status 401") {
		t.Fatalf("without x-api-key: %+v", cr)
	}
}

func TestVerifyAnthropicStream(t *testing.T) {
	const prompt, chunks = 7, 4
	id := fakeanthropic.ID("x")
	stream := func(order []int, tail bool, outTokens int) []byte {
		b := fakeanthropic.AppendHead(nil, id, prompt)
		for _, i := range order {
			b = fakeanthropic.AppendDelta(b, i)
		}
		if tail {
			b = fakeanthropic.AppendTail(b, outTokens)
		}
		return b
	}
	good := stream([]int{0, 1, 2, 3}, true, chunks)
	// A gateway translating from OpenAI reports input tokens at the end.
	lateInput := bytes.Replace(good, []byte(`"input_tokens":7`), []byte(`"input_tokens":0`), 1)
	lateInput = bytes.Replace(lateInput, []byte(`"usage":{"output_tokens":4}`), []byte(`"usage":{"input_tokens":7,"output_tokens":4}`), 1)

	tests := []struct {
		name string
		got  []byte
		want fakeopenai.Verdict
	}{
		{"good", good, fakeopenai.Verdict{}},
		{"input tokens in message_delta", lateInput, fakeopenai.Verdict{}},
		{"truncated", good[:len(good)/2], fakeopenai.Verdict{Truncated: true, NoDone: true}},
		{"no tail", stream([]int{0, 1, 2, 3}, false, 0), fakeopenai.Verdict{NoDone: true}},
		{"reordered", stream([]int{0, 2, 1, 3}, true, chunks), fakeopenai.Verdict{Reordered: true}},
		{"duplicated", stream([]int{0, 1, 1, 2, 3}, true, chunks), fakeopenai.Verdict{Reordered: true}},
		{"missing chunk", stream([]int{0, 1, 2}, true, chunks), fakeopenai.Verdict{Mismatch: true}},
		{"wrong usage", stream([]int{0, 1, 2, 3}, true, 3), fakeopenai.Verdict{Mismatch: true}},
		{"wrong stop reason", bytes.Replace(good, []byte("end_turn"), []byte("max_tokens"), 1), fakeopenai.Verdict{Mismatch: true}},
		{"event after message_stop", append(slicesClone(good), "event: ping\ndata: {\"type\":\"ping\"}\n\n"...), fakeopenai.Verdict{Mismatch: true, NoDone: true}},
		{"bytes after message_stop", append(slicesClone(good), good[:20]...), fakeopenai.Verdict{Mismatch: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := verifyAnthropicStream(tc.got, prompt, chunks)
			detail := v.Detail
			v.Detail = ""
			if v != tc.want {
				t.Fatalf("verdict %+v (%s), want %+v", v, detail, tc.want)
			}
		})
	}
}

func TestVerifyOpenAIStream(t *testing.T) {
	const content, chunks = "abc", 4
	prompt := fakeopenai.PromptTokens(content)
	id := fakeopenai.ID(content)
	good := fakeopenai.AppendStream(nil, content, chunks, true)
	var swapped []byte
	for _, i := range []int{0, 2, 1, 3} {
		swapped = fakeopenai.AppendChunk(swapped, id, i)
	}
	swapped = fakeopenai.AppendTail(swapped, id, prompt, chunks, true)

	tests := []struct {
		name string
		got  []byte
		want fakeopenai.Verdict
	}{
		{"good", good, fakeopenai.Verdict{}},
		{"translated fields differ", bytes.ReplaceAll(good, []byte(id), []byte("msg_other")), fakeopenai.Verdict{}},
		{"truncated", good[:len(good)/2], fakeopenai.Verdict{Truncated: true, NoDone: true}},
		{"reordered", swapped, fakeopenai.Verdict{Reordered: true}},
		{"no usage", fakeopenai.AppendStream(nil, content, chunks, false), fakeopenai.Verdict{Mismatch: true}},
		{"wrong usage", bytes.Replace(good, []byte(`"completion_tokens":4`), []byte(`"completion_tokens":5`), 1), fakeopenai.Verdict{Mismatch: true}},
		{"no [DONE]", bytes.TrimSuffix(good, []byte(fakeopenai.Done)), fakeopenai.Verdict{NoDone: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := verifyOpenAIStream(tc.got, prompt, chunks)
			detail := v.Detail
			v.Detail = ""
			if v != tc.want {
				t.Fatalf("verdict %+v (%s), want %+v", v, detail, tc.want)
			}
		})
	}
}

func TestNonStreamChecks(t *testing.T) {
	const prompt = 9
	oaiGood := fakeopenai.AppendCompletion(nil, "id", prompt)
	anthGood := fakeanthropic.AppendMessage(nil, "id", prompt)
	tests := []struct {
		name  string
		check func([]byte, int) error
		got   []byte
		ok    bool
	}{
		{"openai good", checkOpenAICompletion, oaiGood, true},
		{"openai wrong prompt tokens", checkOpenAICompletion, bytes.Replace(oaiGood, []byte(`"prompt_tokens":9`), []byte(`"prompt_tokens":8`), 1), false},
		{"openai wrong text", checkOpenAICompletion, bytes.Replace(oaiGood, []byte("sixteen"), []byte("fifteen"), 1), false},
		{"anthropic good", checkAnthropicMessage, anthGood, true},
		{"anthropic wrong stop", checkAnthropicMessage, bytes.Replace(anthGood, []byte("end_turn"), []byte("max_tokens"), 1), false},
		{"anthropic no usage", checkAnthropicMessage, bytes.Replace(anthGood, []byte(`"usage"`), []byte(`"other"`), 1), false},
		{"anthropic given openai", checkAnthropicMessage, oaiGood, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.check(tc.got, prompt); (err == nil) != tc.ok {
				t.Fatalf("check = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }
