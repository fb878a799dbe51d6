package gemini

import (
	"encoding/json"
	"strconv"

	api "github.com/sluicehq/sluice/internal/apischema/gemini"
	"github.com/sluicehq/sluice/internal/llm"
)

// DecodeResponse implements llm.UpstreamCodec: the first candidate becomes
// the answer. Consecutive text parts (and consecutive unsigned thought
// parts) are joined, as a stream's deltas are.
func (UpstreamCodec) DecodeResponse(body []byte) (*llm.Response, error) {
	var gr api.GenerateContentResponse
	if err := json.Unmarshal(body, &gr); err != nil {
		return nil, badUpstream("the upstream's answer is not a Gemini response: %v", err)
	}
	if gr.Error != nil {
		return nil, errorFromObject(gr.Error.Code, gr.Error)
	}
	resp := &llm.Response{ID: gr.ResponseID, Model: gr.ModelVersion, Content: []llm.Part{}, StopReason: llm.StopEndTurn}
	if gr.UsageMetadata != nil {
		resp.Usage = usageFrom(gr.UsageMetadata)
	}
	if len(gr.Candidates) == 0 {
		if gr.PromptFeedback != nil && gr.PromptFeedback.BlockReason != "" {
			resp.StopReason = llm.StopContentFilter
		}
		return resp, nil
	}
	c := gr.Candidates[0]
	calls := 0
	if c.Content != nil {
		for _, p := range c.Content.Parts {
			resp.Content = appendResponsePart(resp.Content, p, gr.ResponseID, &calls)
		}
	}
	resp.StopReason = stopReason(c.FinishReason, calls > 0)
	return resp, nil
}

// appendResponsePart appends the canonical form of one answer part.
// Parts that no canonical answer holds (inline media, executable code) are
// left out: a request that could produce them cannot be translated.
func appendResponsePart(out []llm.Part, p api.Part, responseID string, calls *int) []llm.Part {
	text := ""
	if p.Text != nil {
		text = *p.Text
	}
	if p.Thought {
		if text == "" && p.ThoughtSignature == "" {
			return out
		}
		if n := len(out); n > 0 && out[n-1].Type == llm.PartThinking && out[n-1].Signature == "" && out[n-1].Text != "" {
			out[n-1].Text += text
			out[n-1].Signature = p.ThoughtSignature
			return out
		}
		return append(out, llm.Part{Type: llm.PartThinking, Text: text, Signature: p.ThoughtSignature})
	}
	if p.ThoughtSignature != "" {
		out = append(out, llm.Part{Type: llm.PartThinking, Signature: p.ThoughtSignature})
	}
	switch {
	case p.FunctionCall != nil:
		args, ok := objectArgs(p.FunctionCall.Args)
		if !ok {
			args = json.RawMessage("{}")
		}
		out = append(out, llm.Part{
			Type:       llm.PartToolCall,
			ToolCallID: responseCallID(responseID, *calls, p.FunctionCall),
			ToolName:   p.FunctionCall.Name,
			Arguments:  args,
		})
		*calls++
	case text != "":
		if n := len(out); n > 0 && out[n-1].Type == llm.PartText && p.ThoughtSignature == "" {
			out[n-1].Text += text
			return out
		}
		out = append(out, llm.Part{Type: llm.PartText, Text: text})
	}
	return out
}

// responseCallID is the canonical id of the n-th function call of an
// answer: the call's own id when Gemini sent one, else one made from the
// response id (so that calls of different turns differ), n and the name.
func responseCallID(responseID string, n int, fc *api.FunctionCall) string {
	if fc.ID != "" {
		return fc.ID
	}
	if len(responseID) > 12 {
		responseID = responseID[:12]
	}
	return callID(responseID, n, fc.Name)
}

// stopReason maps a finishReason.
func stopReason(finish string, toolCalls bool) llm.StopReason {
	switch finish {
	case api.FinishMaxTokens:
		return llm.StopMaxTokens
	case api.FinishSafety, api.FinishRecitation, api.FinishBlocklist, api.FinishProhibitedContent,
		api.FinishSPII, api.FinishImageSafety, api.FinishLanguage,
		"IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return llm.StopContentFilter
	}
	if toolCalls {
		return llm.StopToolUse
	}
	return llm.StopEndTurn
}

// finishReason maps a canonical stop reason.
func finishReason(r llm.StopReason) string {
	switch r {
	case llm.StopMaxTokens:
		return api.FinishMaxTokens
	case llm.StopContentFilter, llm.StopRefusal:
		return api.FinishSafety
	}
	return api.FinishStop
}

// usageFrom normalises Gemini's usage: promptTokenCount already includes
// cached tokens; thoughts are output tokens that candidatesTokenCount
// leaves out; tool-use prompt tokens are input.
func usageFrom(u *api.UsageMetadata) llm.Usage {
	return llm.Usage{
		InputTokens:     u.PromptTokenCount + u.ToolUsePromptTokenCount,
		OutputTokens:    u.CandidatesTokenCount + u.ThoughtsTokenCount,
		CachedTokens:    u.CachedContentTokenCount,
		ReasoningTokens: u.ThoughtsTokenCount,
	}
}

// usageMetadata renders canonical usage. Cache-write tokens, which Gemini
// does not report apart, stay in promptTokenCount.
func usageMetadata(u llm.Usage) *api.UsageMetadata {
	cand := u.OutputTokens - u.ReasoningTokens
	if cand < 0 {
		cand = 0
	}
	return &api.UsageMetadata{
		PromptTokenCount:        u.InputTokens,
		CachedContentTokenCount: u.CachedTokens,
		CandidatesTokenCount:    cand,
		ThoughtsTokenCount:      u.ReasoningTokens,
		TotalTokenCount:         u.InputTokens + cand + u.ReasoningTokens,
	}
}

// EncodeResponse implements llm.ClientCodec.
func (ClientCodec) EncodeResponse(req *llm.Request, resp *llm.Response) ([]byte, error) {
	if resp == nil {
		return nil, badUpstream("no answer to encode")
	}
	parts, err := encodeParts(resp.Content, llm.RoleAssistant, "content", toolCalls{}, true)
	if err != nil {
		return nil, err
	}
	cand := api.Candidate{FinishReason: finishReason(resp.StopReason)}
	if len(parts) > 0 {
		cand.Content = &api.Content{Role: api.RoleModel, Parts: parts}
	}
	model := resp.Model
	if model == "" && req != nil {
		model = req.Model
	}
	out := api.GenerateContentResponse{
		Candidates:    []api.Candidate{cand},
		UsageMetadata: usageMetadata(resp.Usage),
		ModelVersion:  model,
		ResponseID:    resp.ID,
	}
	return marshal(out)
}

// EncodeCountTokensResponse renders the answer of countTokens.
func EncodeCountTokensResponse(totalTokens int64) []byte {
	return []byte(`{"totalTokens":` + strconv.FormatInt(totalTokens, 10) + `}`)
}

// DecodeCountTokensResponse parses the answer of countTokens.
func DecodeCountTokensResponse(body []byte) (int64, error) {
	var cr struct {
		TotalTokens *int64 `json:"totalTokens"`
	}
	if err := json.Unmarshal(body, &cr); err != nil {
		return 0, badUpstream("the upstream's answer is not a countTokens response: %v", err)
	}
	if cr.TotalTokens == nil {
		return 0, nil // Gemini omits a zero count
	}
	return *cr.TotalTokens, nil
}
