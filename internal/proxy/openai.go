package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/tidwall/gjson"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/sse"
)

func (h *Handler) models(c *Call) error {
	w := c.w
	list := oa.ModelList{Object: "list", Data: []oa.Model{}}
	created := c.snap.LoadedAt.Unix()
	for _, name := range c.snap.ModelNames {
		if c.key.Allows(name) {
			list.Data = append(list.Data, oa.Model{ID: name, Object: "model", Created: created, OwnedBy: "sluice"})
		}
	}
	body, _ := json.Marshal(list)
	w.Header().Set("Content-Type", "application/json")
	c.wrote = true
	c.entry.HTTPStatus = http.StatusOK
	_, _ = w.Write(body)
	return nil
}

// bill records usage and its cost on the entry.
func (h *Handler) bill(c *Call, m *runtime.Model, u meter.Usage) {
	e := &c.entry
	e.InputTokens, e.OutputTokens, e.CachedTokens = u.InputTokens, u.OutputTokens, u.CachedTokens
	e.CacheWriteTokens, e.ReasoningTokens, e.Estimated = u.CacheWriteTokens, u.ReasoningTokens, u.Estimated
	e.CostMicros = m.Price.Cost(u)
}

// usageOpenAI reads an OpenAI usage object. Negative or absurd figures are
// rejected (ok=false) so that the caller estimates instead.
func usageOpenAI(u gjson.Result) (meter.Usage, bool) {
	if !u.IsObject() {
		return meter.Usage{}, false
	}
	// One pass over the object, reading what a lookup (gjson.Get) of each
	// field reads: its first occurrence, and for a nested path the first
	// occurrence of its parent that holds it.
	var in, out, cached, reasoning gjson.Result
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "prompt_tokens":
			setFirst(&in, v)
		case "completion_tokens":
			setFirst(&out, v)
		case "prompt_tokens_details":
			if !cached.Exists() {
				cached = v.Get("cached_tokens")
			}
		case "completion_tokens_details":
			if !reasoning.Exists() {
				reasoning = v.Get("reasoning_tokens")
			}
		}
		return true
	})
	if !in.Exists() && !out.Exists() {
		return meter.Usage{}, false
	}
	mu := meter.Usage{
		InputTokens:     in.Int(),
		OutputTokens:    out.Int(),
		CachedTokens:    cached.Int(),
		ReasoningTokens: reasoning.Int(),
	}
	const absurd = 1 << 40
	for _, v := range [...]int64{mu.InputTokens, mu.OutputTokens, mu.CachedTokens, mu.ReasoningTokens} {
		if v < 0 || v > absurd {
			return meter.Usage{}, false
		}
	}
	return mu, true
}

// chatTap watches an OpenAI chat completion stream as it is forwarded. It
// checks that every data line is JSON (about one parse per event), keeps
// the usage chunk, and keeps the generated text (content, refusal,
// reasoning, tool names and arguments) for an offline count when no usage
// comes.
type chatTap struct {
	parser    sse.Parser
	cut       eventCutter
	emit      func(sse.Event)
	isDone    bool
	u         meter.Usage
	haveUsage bool
	err       error
	text      []byte
	errMsg    string // an {"error": ...} event from the upstream
	// strip: Sluice asked the upstream for a usage chunk that the client
	// did not ask for. The usage-only chunk and the "usage" member of every
	// other chunk are removed from what the client sees, and the events are
	// re-framed as "data: ...\n\n" into out.
	strip bool
	out   []byte
}

const maxAccumulated = 4 << 20

func newChatTap(strip bool) *chatTap {
	t := &chatTap{strip: strip}
	t.emit = t.event
	return t
}

// feed taps one read and returns what to relay of it.
func (t *chatTap) feed(b []byte) []byte {
	if t.err != nil {
		return nil
	}
	if t.strip {
		t.out = t.out[:0]
		if err := t.parser.Feed(b, t.emit); err != nil && t.err == nil {
			t.err = err
		}
		return t.out
	}
	relay, err := t.cut.feed(b, func(line []byte) error {
		if err := t.parser.Feed(line, t.emit); err != nil && t.err == nil {
			t.err = err
		}
		return t.err
	})
	if err != nil {
		t.err = err
	}
	return relay
}

var usageKey = []byte(`"usage"`)

// errBadDataLine is a data line of a chat stream that is not JSON.
var errBadDataLine = errors.New("a data line is not valid JSON")

func (t *chatTap) event(e sse.Event) {
	if t.err != nil {
		return
	}
	if sse.IsDone(e.Data) {
		t.isDone = true
		t.relay(e, e.Data)
		return
	}
	if !gjson.ValidBytes(e.Data) {
		t.err = errBadDataLine
		return
	}
	if bytes.HasPrefix(e.Data, []byte(`{"error"`)) {
		if t.errMsg == "" {
			t.errMsg = "upstream error event: " + truncate(gjson.GetBytes(e.Data, "error.message").Str, 300)
		}
		t.relay(e, e.Data)
		return
	}
	data := e.Data
	if bytes.Contains(data, usageKey) {
		uv := gjson.GetBytes(data, "usage")
		if u, ok := usageOpenAI(uv); ok {
			t.u, t.haveUsage = u, true
		}
		if t.strip && uv.Exists() {
			if ch := gjson.GetBytes(data, "choices"); uv.IsObject() && ch.IsArray() && len(ch.Array()) == 0 {
				return // the usage chunk the client did not ask for
			}
			data = removeMember(data, uv)
		}
	}
	if len(t.text) < maxAccumulated {
		gjson.GetBytes(e.Data, "choices").ForEach(func(_, ch gjson.Result) bool {
			d := ch.Get("delta")
			d.ForEach(func(k, f gjson.Result) bool {
				switch k.Str {
				case "content", "refusal", "reasoning_content", "reasoning":
					if f.Type == gjson.String {
						t.text = append(t.text, f.Str...)
					}
				}
				return true
			})
			d.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
				t.text = append(t.text, tc.Get("function.name").Str...)
				t.text = append(t.text, tc.Get("function.arguments").Str...)
				return true
			})
			return true
		})
	}
	t.relay(e, data)
}

// relay adds an event to what the client sees, when the tap re-frames.
func (t *chatTap) relay(e sse.Event, data []byte) {
	if t.strip {
		t.out = sse.AppendEvent(t.out, string(e.Event), data)
	}
}

// rewriteModel replaces the value of the top-level "model" field, and
// nothing else, leaving every other byte of the body as the client sent it.
func rewriteModel(body []byte, model gjson.Result, upstream string) []byte {
	if model.Str == upstream {
		return body
	}
	out := make([]byte, 0, len(body)+len(upstream)+2)
	out = append(out, body[:model.Index]...)
	out = appendJSONString(out, upstream)
	return append(out, body[model.Index+len(model.Raw):]...)
}

// appendJSONString appends s as json.Marshal writes it: a name of
// printable ASCII that needs no escape is copied between quotes, anything
// else goes through json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(s)
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func isEventStream(h http.Header) bool {
	ct := h.Get("Content-Type")
	return len(ct) >= 17 && ct[:17] == "text/event-stream"
}

func upstreamErrorMessage(body []byte, status int) string {
	if m := gjson.GetBytes(body, "error.message"); m.Type == gjson.String {
		return truncate(m.Str, 500)
	}
	return "upstream answered " + strconv.Itoa(status)
}

// sanitizeErr renders a transport error without its URL, which may carry
// a query-string credential.
func sanitizeErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// streamBufs hold one read of an upstream stream; SSE arrives in small
// reads, and 8 KiB per open stream keeps 1,000 streams light.
var streamBufs = sync.Pool{New: func() any { b := make([]byte, 8<<10); return &b }}

var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { b := bodyBufs.Get().(*bytes.Buffer); b.Reset(); return b }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 { // large answers are not kept: the pool would pin their memory
		bodyBufs.Put(b)
	}
}
