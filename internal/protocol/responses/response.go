package responses

import (
	"encoding/json"
	"strconv"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/protocol/openai"
)

// ids derives a response's ids from one random part.
type ids string

func (b ids) response() string { return "resp_" + string(b) }

// item returns the id of the output item at index i with prefix msg, fc or rs.
func (b ids) item(prefix string, i int) string {
	return prefix + "_" + string(b) + strconv.Itoa(i)
}

// envelope is the response object around the output, echoing the request's
// settings as OpenAI does.
func envelope(req *llm.Request, id, model string, created int64) *oa.ResponsesObject {
	r := &oa.ResponsesObject{
		ID:                id,
		Object:            "response",
		CreatedAt:         created,
		Status:            "in_progress",
		Model:             model,
		Output:            []any{},
		ParallelToolCalls: true,
		Temperature:       req.Temperature,
		TopP:              req.TopP,
		Text:              oa.ResponsesText{Format: &oa.ResponsesTextFormat{Type: "text"}},
		ToolChoice:        json.RawMessage(`"auto"`),
		Tools:             []oa.ResponsesTool{},
		Truncation:        "disabled",
		Metadata:          map[string]string{},
	}
	if r.Model == "" {
		r.Model = req.Model
	}
	if req.ParallelToolCalls != nil {
		r.ParallelToolCalls = *req.ParallelToolCalls
	}
	if req.MaxTokens > 0 {
		n := req.MaxTokens
		r.MaxOutputTokens = &n
	}
	if req.User != "" {
		u := req.User
		r.User = &u
	}
	if th := req.Thinking; th != nil && th.Effort != "" {
		e := th.Effort
		r.Reasoning.Effort = &e
	}
	if rf := req.ResponseFormat; rf != nil {
		f := &oa.ResponsesTextFormat{Type: rf.Type, Name: rf.Name, Schema: rf.Schema}
		if rf.Type == "json_schema" {
			f.Strict = &rf.Strict
		}
		r.Text.Format = f
	}
	if tc := req.ToolChoice; tc != nil {
		if tc.Mode == llm.ToolChoiceTool {
			r.ToolChoice, _ = marshal(oa.ResponsesToolChoice{Type: "function", Name: tc.Name})
		} else {
			r.ToolChoice, _ = marshal(string(tc.Mode))
		}
	}
	for _, t := range req.Tools {
		strict := t.Strict
		r.Tools = append(r.Tools, oa.ResponsesTool{Type: "function", Name: t.Name, Description: t.Description,
			Parameters: t.Parameters, Strict: &strict})
	}
	return r
}

// finish sets the status and usage of a response that ended with stop.
func finish(r *oa.ResponsesObject, stop llm.StopReason, u llm.Usage) {
	r.Status = "completed"
	switch stop {
	case llm.StopMaxTokens:
		r.Status = "incomplete"
		r.IncompleteDetails = &oa.ResponsesIncomplete{Reason: "max_output_tokens"}
	case llm.StopContentFilter, llm.StopRefusal:
		r.Status = "incomplete"
		r.IncompleteDetails = &oa.ResponsesIncomplete{Reason: "content_filter"}
	}
	r.Usage = responsesUsage(u)
}

func responsesUsage(u llm.Usage) *oa.ResponsesUsage {
	return &oa.ResponsesUsage{
		InputTokens:         u.InputTokens,
		InputTokensDetails:  oa.ResponsesInputDetails{CachedTokens: u.CachedTokens, CacheWriteTokens: u.CacheWriteTokens},
		OutputTokens:        u.OutputTokens,
		OutputTokensDetails: oa.ResponsesOutputDetails{ReasoningTokens: u.ReasoningTokens},
		TotalTokens:         u.InputTokens + u.OutputTokens,
	}
}

func outputText(text string) oa.ResponsesOutputText {
	return oa.ResponsesOutputText{Type: "output_text", Text: text, Annotations: []any{}, Logprobs: []any{}}
}

// reasoningItem renders thinking (or redacted thinking) as a reasoning item.
func reasoningItem(id string, p llm.Part) *oa.ResponsesReasoningItem {
	it := &oa.ResponsesReasoningItem{Type: "reasoning", ID: id, Summary: []oa.ResponsesSummaryText{}}
	switch p.Type {
	case llm.PartRedactedThinking:
		enc := RedactedPrefix + p.RedactedData
		it.EncryptedContent = &enc
	default:
		it.Summary = append(it.Summary, oa.ResponsesSummaryText{Type: "summary_text", Text: p.Text})
		if p.Signature != "" {
			sig := p.Signature
			it.EncryptedContent = &sig
		}
	}
	return it
}

// EncodeResponse implements llm.ClientCodec. Consecutive text parts make
// one message item; thinking makes reasoning items; tool calls make
// function_call items.
func (c ClientCodec) EncodeResponse(req *llm.Request, resp *llm.Response) ([]byte, error) {
	b := ids(c.newID())
	created := resp.Created
	if created == 0 {
		created = c.now().Unix()
	}
	r := envelope(req, b.response(), resp.Model, created)
	var msg *oa.ResponsesMessage
	for _, p := range resp.Content {
		i := len(r.Output)
		switch p.Type {
		case llm.PartText:
			if msg == nil {
				msg = &oa.ResponsesMessage{Type: "message", ID: b.item("msg", i), Status: "completed", Role: "assistant",
					Content: []oa.ResponsesOutputText{}}
				r.Output = append(r.Output, msg)
			}
			msg.Content = append(msg.Content, outputText(p.Text))
			continue
		case llm.PartThinking, llm.PartRedactedThinking:
			r.Output = append(r.Output, reasoningItem(b.item("rs", i), p))
		case llm.PartToolCall:
			args := "{}"
			if len(p.Arguments) > 0 {
				args = string(compact(p.Arguments))
			}
			r.Output = append(r.Output, &oa.ResponsesFunctionCall{Type: "function_call", ID: b.item("fc", i),
				CallID: p.ToolCallID, Name: p.ToolName, Arguments: args, Status: "completed"})
		}
		msg = nil
	}
	finish(r, resp.StopReason, resp.Usage)
	if r.Status == "incomplete" && msg != nil {
		msg.Status = "incomplete"
	}
	return marshal(r)
}

// EncodeError implements llm.ClientCodec. The Responses API's error body is
// OpenAI's: {"error":{"message","type","param","code"}}.
func (ClientCodec) EncodeError(e *llm.Error) []byte {
	return openai.Client.EncodeError(e)
}
