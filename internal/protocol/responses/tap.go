package responses

import (
	"bytes"
	"encoding/json"
	"fmt"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/sse"
)

// Tap decodes a Responses stream as OpenAI sends it into canonical events:
// it meters Responses traffic passed through to an OpenAI upstream. Each
// output item is a block (message: text; reasoning: thinking, its
// encrypted_content as the signature; function_call: a tool call). It
// keeps no more than the current SSE line and the open items' ids.
type Tap struct {
	p sse.Parser

	blocks   map[int]*tapBlock // output_index -> block
	next     int
	toolUse  bool
	usage    llm.Usage
	hasUsage bool
	done     bool
}

type tapBlock struct {
	index    int
	kind     string
	sawDelta bool
	summary  int // the summary index of the last thinking delta
	stopped  bool
}

var _ llm.StreamReader = (*Tap)(nil)

// NewTap returns a reader for one Responses stream (a *Tap).
func NewTap() llm.StreamReader { return &Tap{blocks: map[int]*tapBlock{}} }

// Done implements llm.StreamReader: true after response.completed,
// response.incomplete or response.failed.
func (t *Tap) Done() bool { return t.done }

// Usage implements llm.StreamReader: the usage of the final response.
func (t *Tap) Usage() (llm.Usage, bool) { return t.usage, t.hasUsage }

// Feed implements llm.StreamReader.
func (t *Tap) Feed(b []byte, emit func(llm.Event)) error {
	if t.done {
		return nil
	}
	var err error
	perr := t.p.Feed(b, func(ev sse.Event) {
		if err == nil && !t.done {
			err = t.event(ev.Data, emit)
		}
	})
	if perr != nil {
		return perr
	}
	return err
}

// tapEvent is the union of the stream events the tap reads.
type tapEvent struct {
	Type         string           `json:"type"`
	Response     *tapResponse     `json:"response"`
	OutputIndex  int              `json:"output_index"`
	SummaryIndex int              `json:"summary_index"`
	Item         oa.ResponsesItem `json:"item"`
	Delta        string           `json:"delta"`
	Code         *string          `json:"code"`
	Message      string           `json:"message"`
	Param        *string          `json:"param"`
	// Error is the nested form of an error event, which some servers send.
	Error *struct {
		Type    string  `json:"type"`
		Code    *string `json:"code"`
		Message string  `json:"message"`
		Param   *string `json:"param"`
	} `json:"error"`
}

type tapResponse struct {
	ID                string                  `json:"id"`
	Model             string                  `json:"model"`
	Status            string                  `json:"status"`
	Error             *oa.ResponsesError      `json:"error"`
	IncompleteDetails *oa.ResponsesIncomplete `json:"incomplete_details"`
	Usage             *oa.ResponsesUsage      `json:"usage"`
}

func (t *Tap) event(data []byte, emit func(llm.Event)) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil
	}
	var e tapEvent
	if err := json.Unmarshal(data, &e); err != nil {
		return fmt.Errorf("responses stream: malformed event: %w", err)
	}
	switch e.Type {
	case "response.created":
		if e.Response != nil {
			emit(llm.Event{Type: llm.EvStart, ID: e.Response.ID, Model: e.Response.Model})
		}
	case "response.output_item.added":
		b := &tapBlock{index: t.next, kind: e.Item.Type}
		var part llm.Part
		switch e.Item.Type {
		case "message":
			part = llm.Part{Type: llm.PartText}
		case "reasoning":
			part = llm.Part{Type: llm.PartThinking}
		case "function_call":
			part = llm.Part{Type: llm.PartToolCall, ToolCallID: e.Item.CallID, ToolName: e.Item.Name}
			t.toolUse = true
		default:
			return nil // built-in tool calls carry no canonical content
		}
		t.next++
		t.blocks[e.OutputIndex] = b
		emit(llm.Event{Type: llm.EvBlockStart, Index: b.index, Block: &part})
	case "response.output_text.delta", "response.refusal.delta":
		t.delta(e, llm.EvTextDelta, emit)
	case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
		if b := t.blocks[e.OutputIndex]; b != nil && b.sawDelta && e.SummaryIndex != b.summary {
			emit(llm.Event{Type: llm.EvThinkingDelta, Index: b.index, Text: "\n\n"})
		}
		t.delta(e, llm.EvThinkingDelta, emit)
		if b := t.blocks[e.OutputIndex]; b != nil {
			b.summary = e.SummaryIndex
		}
	case "response.function_call_arguments.delta":
		t.delta(e, llm.EvToolArgsDelta, emit)
	case "response.output_item.done":
		b := t.blocks[e.OutputIndex]
		if b == nil || b.stopped {
			return nil
		}
		b.stopped = true
		// A server that sends no deltas still sends the whole item here.
		if !b.sawDelta && e.Item.Type == "function_call" && e.Item.Arguments != "" {
			emit(llm.Event{Type: llm.EvToolArgsDelta, Index: b.index, Text: e.Item.Arguments})
		}
		if !b.sawDelta && e.Item.Type == "message" {
			var parts []oa.ResponsesContentPart
			_ = json.Unmarshal(e.Item.Content, &parts)
			for _, p := range parts {
				if text := p.Text + p.Refusal; text != "" {
					emit(llm.Event{Type: llm.EvTextDelta, Index: b.index, Text: text})
				}
			}
		}
		if e.Item.Type == "reasoning" && e.Item.EncryptedContent != nil && *e.Item.EncryptedContent != "" {
			emit(llm.Event{Type: llm.EvSignatureDelta, Index: b.index, Text: *e.Item.EncryptedContent})
		}
		emit(llm.Event{Type: llm.EvBlockStop, Index: b.index})
	case "response.completed", "response.incomplete":
		t.finish(e.Response)
		t.done = true
		ev := llm.Event{Type: llm.EvStop, StopReason: llm.StopEndTurn}
		if t.toolUse {
			ev.StopReason = llm.StopToolUse
		}
		if r := e.Response; r != nil && r.IncompleteDetails != nil {
			switch r.IncompleteDetails.Reason {
			case "max_output_tokens":
				ev.StopReason = llm.StopMaxTokens
			case "content_filter":
				ev.StopReason = llm.StopContentFilter
			}
		}
		if t.hasUsage {
			u := t.usage
			ev.Usage = &u
		}
		emit(ev)
	case "response.failed":
		t.finish(e.Response)
		t.done = true
		err := streamError("", "", "the response failed", nil)
		if e.Response != nil && e.Response.Error != nil {
			err = streamError(e.Response.Error.Code, "", e.Response.Error.Message, nil)
		}
		emit(llm.Event{Type: llm.EvError, Err: err})
	case "error":
		code, typ, msg, param := deref(e.Code), "", e.Message, e.Param
		if e.Error != nil {
			code, typ, msg, param = deref(e.Error.Code), e.Error.Type, e.Error.Message, e.Error.Param
		}
		emit(llm.Event{Type: llm.EvError, Err: streamError(code, typ, msg, param)})
	}
	return nil
}

// streamError is the canonical error of an error event or failed response.
func streamError(code, typ, msg string, param *string) *llm.Error {
	e := &llm.Error{Status: 500, Type: "server", Message: msg}
	if param != nil {
		e.Param = *param
	}
	switch {
	case code == "rate_limit_exceeded" || typ == "rate_limit_error":
		e.Status, e.Type = 429, "rate_limit"
	case code == "server_is_overloaded" || code == "overloaded":
		e.Status, e.Type = 503, "overloaded"
	case typ == "invalid_request_error" || code == "invalid_prompt" || code == "invalid_request_error":
		e.Status, e.Type = 400, "invalid_request"
	}
	if e.Message == "" {
		e.Message = "upstream error"
	}
	return e
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (t *Tap) delta(e tapEvent, typ llm.EventType, emit func(llm.Event)) {
	b := t.blocks[e.OutputIndex]
	if b == nil || b.stopped || e.Delta == "" {
		return
	}
	b.sawDelta = true
	emit(llm.Event{Type: typ, Index: b.index, Text: e.Delta})
}

func (t *Tap) finish(r *tapResponse) {
	if r != nil && r.Usage != nil {
		t.usage, t.hasUsage = usageOf(r.Usage), true
	}
}

func usageOf(u *oa.ResponsesUsage) llm.Usage {
	return llm.Usage{
		InputTokens:      u.InputTokens,
		OutputTokens:     u.OutputTokens,
		CachedTokens:     u.InputTokensDetails.CachedTokens,
		CacheWriteTokens: u.InputTokensDetails.CacheWriteTokens,
		ReasoningTokens:  u.OutputTokensDetails.ReasoningTokens,
	}
}

// UsageFromBody reads the usage of a complete (non-streamed) Responses
// body, and whether it had any.
func UsageFromBody(body []byte) (llm.Usage, bool) {
	var r struct {
		Usage *oa.ResponsesUsage `json:"usage"`
	}
	if json.Unmarshal(body, &r) != nil || r.Usage == nil {
		return llm.Usage{}, false
	}
	return usageOf(r.Usage), true
}
