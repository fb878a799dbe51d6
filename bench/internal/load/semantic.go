package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/bench/internal/fakeanthropic"
	"github.com/sluicehq/sluice/bench/internal/fakeopenai"
)

// The dialects of this file check responses that a gateway translated from
// another protocol, so they cannot compare bytes. Both fakes (fakeopenai and
// fakeanthropic) send the same text and the same token counts for the same
// request, so each check rebuilds what the client must receive whatever the
// upstream's protocol: the non-stream text fakeopenai.CompletionText with
// fakeopenai.CompletionTokens output tokens, or for a stream the text
// fakeopenai.ChunkContent(0), (1), … with one output token per chunk, and
// fakeopenai.PromptTokens(prompt) input tokens, plus the dialect's finish
// reason and terminal event.

// Anthropic is the Anthropic Messages dialect (POST /v1/messages), checked
// semantically. Against fakeanthropic directly it passes too.
type Anthropic struct {
	model  string
	chunks int
	calls  []Call
}

var _ Dialect = (*Anthropic)(nil)

// AnthropicVersion is the anthropic-version header the dialect sends.
const AnthropicVersion = "2023-06-01"

// NewAnthropic returns the Anthropic dialect that asks for model and
// expects streams of the given number of text chunks.
func NewAnthropic(model string, chunks int) *Anthropic {
	d := &Anthropic{model: model, chunks: chunks}
	for i := range bodyVariants {
		content := filler(fmt.Sprintf("bench request %d: ", i), bodySize(i, bodyVariants))
		d.calls = append(d.calls, Call{
			Body: d.body(content, false),
			Check: func(got []byte) (bool, error) {
				return false, checkAnthropicMessage(got, fakeopenai.PromptTokens(content))
			},
		})
	}
	return d
}

func (d *Anthropic) body(content string, stream bool) []byte {
	m := map[string]any{
		"model":      d.model,
		"max_tokens": 256,
		"messages":   []map[string]string{{"role": "user", "content": content}},
	}
	if stream {
		m["stream"] = true
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // static shapes only
	}
	return b
}

// Path implements Dialect.
func (d *Anthropic) Path() string { return "/v1/messages" }

// SetHeaders implements Dialect.
func (d *Anthropic) SetHeaders(h http.Header) {
	h.Set("Content-Type", "application/json")
	h.Set("Anthropic-Version", AnthropicVersion)
}

// Call implements Dialect.
func (d *Anthropic) Call(i int) Call { return d.calls[i%len(d.calls)] }

// Stream implements Dialect.
func (d *Anthropic) Stream(nonce string, i int) StreamCall {
	content := filler(fmt.Sprintf("bench stream %s-%d: ", nonce, i), bodySize(i, 61))
	chunks := d.chunks
	return StreamCall{
		Body: d.body(content, true),
		Want: fakeanthropic.AppendStream(nil, content, chunks),
		Verify: func(got []byte) fakeopenai.Verdict {
			return verifyAnthropicStream(got, fakeopenai.PromptTokens(content), chunks)
		},
	}
}

// NewOpenAITranslated returns the OpenAI chat dialect with semantic checks,
// for a gateway that answers an OpenAI client from another protocol's
// upstream. Against fakeopenai directly it passes too.
func NewOpenAITranslated(model string, chunks int) *OpenAI {
	d := &OpenAI{model: model, chunks: chunks, translated: true}
	for i := range bodyVariants {
		content := filler(fmt.Sprintf("bench request %d: ", i), bodySize(i, bodyVariants))
		d.prompt = append(d.prompt, fakeopenai.PromptTokens(content))
		d.calls = append(d.calls, Call{
			Body: d.body(content, false),
			Check: func(got []byte) (bool, error) {
				return false, checkOpenAICompletion(got, fakeopenai.PromptTokens(content))
			},
		})
	}
	return d
}

func checkOpenAICompletion(got []byte, prompt int) error {
	var r struct {
		Object  string `json:"object"`
		Choices []struct {
			Message struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage *struct {
			Prompt     int `json:"prompt_tokens"`
			Completion int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(got, &r); err != nil {
		return fmt.Errorf("invalid JSON (%v): %.200q", err, got)
	}
	switch {
	case r.Object != "chat.completion" || len(r.Choices) != 1:
		return fmt.Errorf("not one chat.completion choice: %.200q", got)
	case r.Choices[0].Message.Role != "assistant" || r.Choices[0].Message.Content != fakeopenai.CompletionText:
		return fmt.Errorf("wrong message: %.200q", got)
	case r.Choices[0].FinishReason != "stop":
		return fmt.Errorf("finish_reason %q, want stop", r.Choices[0].FinishReason)
	case r.Usage == nil || r.Usage.Prompt != prompt || r.Usage.Completion != fakeopenai.CompletionTokens:
		return fmt.Errorf("usage differs from the upstream's (prompt %d, completion %d): %.300q", prompt, fakeopenai.CompletionTokens, got)
	}
	return nil
}

func checkAnthropicMessage(got []byte, input int) error {
	var r struct {
		Type    string `json:"type"`
		Role    string `json:"role"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		StopReason string `json:"stop_reason"`
		Usage      *struct {
			Input  int `json:"input_tokens"`
			Output int `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(got, &r); err != nil {
		return fmt.Errorf("invalid JSON (%v): %.200q", err, got)
	}
	switch {
	case r.Type != "message" || r.Role != "assistant":
		return fmt.Errorf("not an assistant message: %.200q", got)
	case len(r.Content) != 1 || r.Content[0].Type != "text" || r.Content[0].Text != fakeopenai.CompletionText:
		return fmt.Errorf("wrong content: %.200q", got)
	case r.StopReason != "end_turn":
		return fmt.Errorf("stop_reason %q, want end_turn", r.StopReason)
	case r.Usage == nil || r.Usage.Input != input || r.Usage.Output != fakeopenai.CompletionTokens:
		return fmt.Errorf("usage differs from the upstream's (input %d, output %d): %.300q", input, fakeopenai.CompletionTokens, got)
	}
	return nil
}

// sseEvent is one server-sent event: its event name and its data.
type sseEvent struct {
	name string
	data []byte
}

// splitSSE splits a stream into complete events and reports whether they
// were well formed (only event and data fields, at most one data line per
// event) and whether bytes of an incomplete event follow them.
func splitSSE(b []byte) (evs []sseEvent, wellFormed, partial bool) {
	ok := true
	for {
		i := bytes.Index(b, []byte("\n\n"))
		if i < 0 {
			return evs, ok, len(b) > 0
		}
		var ev sseEvent
		for line := range bytes.SplitSeq(b[:i], []byte("\n")) {
			switch {
			case bytes.HasPrefix(line, []byte("event: ")):
				ev.name = string(line[len("event: "):])
			case bytes.HasPrefix(line, []byte("data: ")) && ev.data == nil:
				ev.data = line[len("data: "):]
			default:
				ok = false
			}
		}
		evs = append(evs, ev)
		b = b[i+2:]
	}
}

// expectedText is the text of a stream of n chunks.
func expectedText(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(fakeopenai.ChunkContent(i))
	}
	return b.String()
}

// markersInOrder reports whether text is "tok00000 tok00001 …" counting up
// from 0 (a prefix of a stream's text is in order).
func markersInOrder(text string) bool {
	for next := 0; text != ""; next++ {
		m, rest, found := strings.Cut(text, " ")
		if !strings.HasPrefix(m, "tok") {
			return false
		}
		n, err := strconv.Atoi(m[3:])
		if err != nil || n != next || (!found && rest != "") {
			return false
		}
		text = rest
	}
	return true
}

// textVerdict classifies a semantically checked stream: terminal is whether
// its last event is the dialect's terminal one, problem the first other
// fault found ("" if none).
func textVerdict(text, want string, terminal bool, problem string) fakeopenai.Verdict {
	var v fakeopenai.Verdict
	v.NoDone = !terminal
	switch {
	case !markersInOrder(text):
		v.Reordered = true
		v.Detail = fmt.Sprintf("text out of order: %.120q", text)
	case !terminal && problem == "" && len(text) < len(want) && strings.HasPrefix(want, text):
		v.Truncated = true
		v.Detail = fmt.Sprintf("no terminal event after %d of %d text bytes", len(text), len(want))
	case text != want:
		v.Mismatch = true
		v.Detail = fmt.Sprintf("text %.80q…, want %d bytes", text, len(want))
	case problem != "":
		v.Mismatch = true
		v.Detail = problem
	case !terminal:
		v.Detail = "no terminal event"
	}
	return v
}

// verifyOpenAIStream checks a chat.completion.chunk stream: the text, one
// finish_reason "stop", a usage chunk with the upstream's counts, and
// `data: [DONE]` last.
func verifyOpenAIStream(got []byte, prompt, chunks int) fakeopenai.Verdict {
	evs, wellFormed, partial := splitSSE(got)
	var text strings.Builder
	var problem string
	fail := func(format string, args ...any) {
		if problem == "" {
			problem = fmt.Sprintf(format, args...)
		}
	}
	if !wellFormed {
		fail("malformed SSE")
	}
	done, stops, usage := false, 0, false
	for i, ev := range evs {
		if string(ev.data) == "[DONE]" {
			done = i == len(evs)-1 && bytes.HasSuffix(got, []byte(fakeopenai.Done))
			if !done {
				fail("events after [DONE]")
			}
			continue
		}
		var c struct {
			Object  string `json:"object"`
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *struct {
				Prompt     int `json:"prompt_tokens"`
				Completion int `json:"completion_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(ev.data, &c); err != nil || c.Object != "chat.completion.chunk" {
			fail("event %d is not a chat.completion.chunk: %.120q", i, ev.data)
			continue
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
			if ch.FinishReason != nil {
				stops++
				if *ch.FinishReason != "stop" {
					fail("finish_reason %q", *ch.FinishReason)
				}
			}
		}
		if c.Usage != nil {
			usage = true
			if c.Usage.Prompt != prompt || c.Usage.Completion != chunks {
				fail("usage %d/%d, want %d/%d", c.Usage.Prompt, c.Usage.Completion, prompt, chunks)
			}
		}
	}
	if done && partial {
		fail("bytes after [DONE]")
	}
	if done && stops != 1 {
		fail("%d finish reasons, want 1", stops)
	}
	if done && !usage {
		fail("no usage chunk")
	}
	return textVerdict(text.String(), expectedText(chunks), done, problem)
}

// verifyAnthropicStream checks a Messages stream: message_start first, one
// text block, message_delta with stop_reason end_turn and the upstream's
// token counts, and message_stop last. Input tokens may come in
// message_start (as Anthropic sends them) or in message_delta (as a gateway
// translating from an upstream that reports usage at the end sends them).
func verifyAnthropicStream(got []byte, input, chunks int) fakeopenai.Verdict {
	evs, wellFormed, partial := splitSSE(got)
	var text strings.Builder
	var problem string
	fail := func(format string, args ...any) {
		if problem == "" {
			problem = fmt.Sprintf(format, args...)
		}
	}
	if !wellFormed {
		fail("malformed SSE")
	}
	type usage struct {
		Input  int `json:"input_tokens"`
		Output int `json:"output_tokens"`
	}
	var (
		stopped, sawStop           bool
		starts, blocks, blockStops int
		inTokens, outTokens        int
		stopReason                 string
	)
	for i, ev := range evs {
		var e struct {
			Type    string `json:"type"`
			Message *struct {
				Usage usage `json:"usage"`
			} `json:"message"`
			Delta *struct {
				Type       string `json:"type"`
				Text       string `json:"text"`
				StopReason string `json:"stop_reason"`
			} `json:"delta"`
			Usage *usage `json:"usage"`
		}
		if err := json.Unmarshal(ev.data, &e); err != nil || e.Type != ev.name {
			fail("event %d (%s) is not valid: %.120q", i, ev.name, ev.data)
			continue
		}
		if sawStop {
			fail("%s after message_stop", e.Type)
		}
		switch e.Type {
		case "message_start":
			starts++
			if i != 0 || e.Message == nil {
				fail("message_start is event %d", i)
			} else {
				inTokens = e.Message.Usage.Input
			}
		case "content_block_start":
			blocks++
		case "content_block_delta":
			if e.Delta == nil || e.Delta.Type != "text_delta" {
				fail("delta %d is not a text_delta", i)
			} else {
				text.WriteString(e.Delta.Text)
			}
		case "content_block_stop":
			blockStops++
		case "message_delta":
			if e.Delta != nil {
				stopReason = e.Delta.StopReason
			}
			if e.Usage != nil {
				outTokens = e.Usage.Output
				if e.Usage.Input > 0 {
					inTokens = e.Usage.Input
				}
			}
		case "message_stop":
			sawStop = true
			stopped = i == len(evs)-1
		case "ping":
		default:
			fail("unexpected event %s", e.Type)
		}
	}
	if stopped {
		switch {
		case partial:
			fail("bytes after message_stop")
		case starts != 1 || blocks != 1 || blockStops != 1:
			fail("%d message_start, %d content_block_start, %d content_block_stop; want 1 each", starts, blocks, blockStops)
		case stopReason != "end_turn":
			fail("stop_reason %q, want end_turn", stopReason)
		case inTokens != input || outTokens != chunks:
			fail("usage %d/%d, want %d/%d", inTokens, outTokens, input, chunks)
		}
	}
	return textVerdict(text.String(), expectedText(chunks), stopped, problem)
}
