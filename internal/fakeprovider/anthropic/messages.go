package anthropicfake

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
)

// Usage is Anthropic's usage object as the API sends it.
type Usage struct {
	InputTokens              int                 `json:"input_tokens"`
	CacheCreationInputTokens int                 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int                 `json:"cache_read_input_tokens"`
	CacheCreation            CacheCreation       `json:"cache_creation"`
	OutputTokens             int                 `json:"output_tokens"`
	OutputTokensDetails      OutputTokensDetails `json:"output_tokens_details"`
	ServiceTier              string              `json:"service_tier"`
}

// CacheCreation breaks cache writes down by TTL.
type CacheCreation struct {
	Ephemeral5mInputTokens int `json:"ephemeral_5m_input_tokens"`
	Ephemeral1hInputTokens int `json:"ephemeral_1h_input_tokens"`
}

// OutputTokensDetails breaks output tokens down.
type OutputTokensDetails struct {
	ThinkingTokens int `json:"thinking_tokens"`
}

// toolUse is a tool call the fake makes.
type toolUse struct {
	ID    string
	Name  string
	Input string
}

// answer is what the fake says: blocks in this order.
type answer struct {
	thinking   string // "" when thinking is off
	redacted   string // redacted_thinking data, or ""
	text       string // "" for none
	tools      []toolUse
	stopReason string
	stopSeq    *string
}

func (a answer) thinkingTokens() int {
	n := CountTokens(a.thinking)
	if a.redacted != "" {
		n += 8
	}
	return n
}

func (a answer) outputTokens() int {
	n := a.thinkingTokens() + CountTokens(a.text)
	for _, t := range a.tools {
		n += CountTokens(t.Name) + CountTokens(t.Input)
	}
	return n
}

func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	b, err := s.behavior(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, errInvalidRequest, err.Error())
		return
	}
	req, apiErr := parseRequest(recordOf(r).Body, false)
	if apiErr != nil {
		writeError(w, apiErr.status, apiErr.typ, apiErr.msg)
		return
	}
	if !s.prelude(w, r, b) {
		return
	}
	a := makeAnswer(req, b, recordOf(r).Seq)
	usage := Usage{InputTokens: inputTokens(req), OutputTokens: a.outputTokens(), ServiceTier: "standard"}
	usage.OutputTokensDetails.ThinkingTokens = a.thinkingTokens()
	if b.InputTokens != nil {
		usage.InputTokens = *b.InputTokens
	}
	if b.OutputTokens != nil {
		usage.OutputTokens = *b.OutputTokens
	}
	if b.CacheReadTokens != nil {
		usage.CacheReadInputTokens = *b.CacheReadTokens
	}
	if b.CacheCreationTokens != nil {
		usage.CacheCreationInputTokens = *b.CacheCreationTokens
		usage.CacheCreation.Ephemeral5mInputTokens = *b.CacheCreationTokens
	}
	h := w.Header()
	h.Set("Anthropic-Organization-Id", "00000000-0000-0000-0000-000000000000")
	h.Set("Anthropic-Ratelimit-Requests-Limit", "4000")
	h.Set("Anthropic-Ratelimit-Requests-Remaining", "3999")
	if req.Stream {
		s.streamMessage(w, r, b, req, a, usage)
		return
	}
	if b.Hang == HangAfterHeaders {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		s.Hang(r.Context())
		return
	}
	writeJSON(w, http.StatusOK, message{
		ID:           messageID(r),
		Type:         "message",
		Role:         "assistant",
		Model:        req.Model,
		Content:      a.blocks(),
		StopReason:   &a.stopReason,
		StopSequence: a.stopSeq,
		Usage:        usage,
	})
}

// makeAnswer decides the answer: thinking when the request turns it on; tool_use
// blocks when it offers client tools, tool_choice is not "none" and its last user
// message holds no tool result (after a short text when the choice is "auto"); the
// reply text otherwise (a JSON object from the schema under structured output), cut
// at the first stop sequence or at max_tokens words (thinking counts toward them).
func makeAnswer(req *messagesRequest, b *Behavior, seq int) answer {
	lastUser, afterResult := lastUserText(req.Messages)
	a := answer{stopReason: "end_turn"}
	if th := req.Thinking; th != nil && (th.Type == "enabled" || th.Type == "adaptive") {
		a.thinking = ThinkingText(lastUser)
		if b.RedactedThinking {
			a.redacted = RedactedData(lastUser)
		}
	}
	limit := *req.MaxTokens - a.thinkingTokens()
	if limit <= 0 {
		a.stopReason = "max_tokens"
		return a
	}
	choice := "auto"
	parallel := true
	if tc := req.ToolChoice; tc != nil {
		choice = tc.Type
		parallel = tc.DisableParallelToolUse == nil || !*tc.DisableParallelToolUse
	}
	var tools []inTool
	for _, t := range req.Tools {
		if t.custom() && (choice != "tool" || t.Name == req.ToolChoice.Name) {
			tools = append(tools, t)
		}
	}
	if len(tools) > 0 && choice != "none" && !afterResult {
		n := max(b.ToolCalls, 1)
		if !parallel || choice == "tool" {
			n = 1
		}
		var names []string
		for i := range n {
			t := tools[i%len(tools)]
			a.tools = append(a.tools, toolUse{ID: ToolUseID(seq, t.Name, i), Name: t.Name, Input: ToolInput(t.InputSchema, lastUser)})
			names = append(names, t.Name)
		}
		if choice == "auto" {
			a.text = "I'll call " + strings.Join(names, ", ") + "."
		}
		a.stopReason = "tool_use"
		return a
	}
	switch {
	case b.Content != "":
		a.text = b.Content
	case req.OutputConfig != nil && req.OutputConfig.Format != nil:
		a.text = ToolInput(req.OutputConfig.Format.Schema, lastUser)
	default:
		a.text = Reply(lastUser, b.Chunks)
	}
	first := -1
	for _, stop := range req.StopSequences {
		if i := strings.Index(a.text, stop); stop != "" && i >= 0 && (first < 0 || i < first) {
			first = i
			a.stopReason, a.stopSeq = "stop_sequence", &stop
		}
	}
	if first >= 0 {
		a.text = a.text[:first]
	}
	if CountTokens(a.text) > limit {
		a.text = strings.Join(openaifake.Split(a.text, 0)[:limit], "")
		a.stopReason, a.stopSeq = "max_tokens", nil
	}
	return a
}

// message is a Messages API response.
type message struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	Content      []any   `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

type textBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type thinkingBlock struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

type redactedBlock struct {
	Type string `json:"type"`
	Data string `json:"data"`
}

type toolUseBlock struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// blocks renders the answer's content blocks.
func (a answer) blocks() []any {
	out := []any{}
	if a.thinking != "" {
		out = append(out, thinkingBlock{Type: "thinking", Thinking: a.thinking, Signature: Signature(a.thinking)})
	}
	if a.redacted != "" {
		out = append(out, redactedBlock{Type: "redacted_thinking", Data: a.redacted})
	}
	if a.text != "" {
		out = append(out, textBlock{Type: "text", Text: a.text})
	}
	for _, t := range a.tools {
		out = append(out, toolUseBlock{Type: "tool_use", ID: t.ID, Name: t.Name, Input: json.RawMessage(t.Input)})
	}
	return out
}

// toolInputChunk is the size of the input_json_delta fragments when the behavior
// sets no chunk count.
const toolInputChunk = 8

// streamMessage sends the answer as Anthropic streams it: message_start (with the
// input side of usage and output_tokens 1), a ping, then per block
// content_block_start, its deltas and content_block_stop, then message_delta (stop
// reason and the cumulative usage) and message_stop.
func (s *Server) streamMessage(w http.ResponseWriter, r *http.Request, b *Behavior, req *messagesRequest, a answer, usage Usage) {
	st := &sseStream{s: s, w: w, r: r, b: b}
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if err := http.NewResponseController(w).Flush(); err != nil {
		return
	}
	switch {
	case b.Hang == HangAfterHeaders:
		s.Hang(r.Context())
		return
	case b.CutAfter < 0:
		return
	case b.ResetAfter < 0:
		st.reset()
		return
	}

	startUsage := usage
	startUsage.OutputTokens = 1
	startUsage.OutputTokensDetails = OutputTokensDetails{}
	if !st.event("message_start", map[string]any{"type": "message_start", "message": message{
		ID: messageID(r), Type: "message", Role: "assistant", Model: req.Model, Content: []any{}, Usage: startUsage,
	}}) {
		return
	}
	if !st.event("ping", map[string]string{"type": "ping"}) {
		return
	}
	index := 0
	block := func(start any, deltas []any) bool {
		if !st.event("content_block_start", map[string]any{"type": "content_block_start", "index": index, "content_block": start}) {
			return false
		}
		for _, d := range deltas {
			if !st.event("content_block_delta", map[string]any{"type": "content_block_delta", "index": index, "delta": d}) {
				return false
			}
		}
		ok := st.event("content_block_stop", map[string]any{"type": "content_block_stop", "index": index})
		index++
		return ok
	}
	if a.thinking != "" {
		var deltas []any
		for _, p := range openaifake.Split(a.thinking, b.Chunks) {
			deltas = append(deltas, map[string]string{"type": "thinking_delta", "thinking": p})
		}
		deltas = append(deltas, map[string]string{"type": "signature_delta", "signature": Signature(a.thinking)})
		if !block(thinkingBlock{Type: "thinking"}, deltas) {
			return
		}
	}
	if a.redacted != "" && !block(redactedBlock{Type: "redacted_thinking", Data: a.redacted}, nil) {
		return
	}
	if a.text != "" {
		var deltas []any
		for _, p := range openaifake.Split(a.text, b.Chunks) {
			deltas = append(deltas, map[string]string{"type": "text_delta", "text": p})
		}
		if !block(textBlock{Type: "text"}, deltas) {
			return
		}
	}
	for _, t := range a.tools {
		size := toolInputChunk
		if b.Chunks > 0 {
			size = max(1, (len(t.Input)+b.Chunks-1)/b.Chunks)
		}
		deltas := []any{map[string]string{"type": "input_json_delta", "partial_json": ""}}
		for _, p := range openaifake.SplitBytes(t.Input, size) {
			deltas = append(deltas, map[string]string{"type": "input_json_delta", "partial_json": p})
		}
		if !block(toolUseBlock{Type: "tool_use", ID: t.ID, Name: t.Name, Input: json.RawMessage("{}")}, deltas) {
			return
		}
	}
	if !st.event("message_delta", map[string]any{
		"type":  "message_delta",
		"delta": map[string]any{"stop_reason": a.stopReason, "stop_sequence": a.stopSeq},
		"usage": map[string]any{
			"input_tokens":                usage.InputTokens,
			"cache_creation_input_tokens": usage.CacheCreationInputTokens,
			"cache_read_input_tokens":     usage.CacheReadInputTokens,
			"output_tokens":               usage.OutputTokens,
			"output_tokens_details":       usage.OutputTokensDetails,
		},
	}) {
		return
	}
	if st.event("message_stop", map[string]string{"type": "message_stop"}) {
		fakeserver.MarkComplete(w)
	}
}

// sseStream writes SSE events and applies the stream part of a Behavior.
type sseStream struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	b      *Behavior
	events int
}

// event writes one "event: name\ndata: json\n\n" event; it returns false when the
// stream must stop (cut, reset, scripted error, client gone).
func (st *sseStream) event(name string, v any) bool {
	if st.events > 0 && st.b.ChunkDelay > 0 && !st.s.Sleep(st.r.Context(), st.b.ChunkDelay) {
		return false
	}
	switch {
	case st.b.CutAfter > 0 && st.events >= st.b.CutAfter:
		return false
	case st.b.ResetAfter > 0 && st.events >= st.b.ResetAfter:
		st.reset()
		return false
	case st.b.ErrorAfter > 0 && st.events >= st.b.ErrorAfter:
		if st.write("error", ErrorBody{Type: "error", Error: ErrorObject{Type: errOverloaded, Message: "Overloaded"},
			RequestID: st.w.Header().Get("Request-Id")}) {
			fakeserver.MarkComplete(st.w)
		}
		return false
	}
	return st.write(name, v)
}

func (st *sseStream) write(name string, v any) bool {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	buf := make([]byte, 0, len(data)+len(name)+16)
	buf = append(buf, "event: "...)
	buf = append(buf, name...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, data...)
	buf = append(buf, "\n\n"...)
	if _, err := st.w.Write(buf); err != nil {
		return false
	}
	st.events++
	fakeserver.SetEvents(st.w, st.events)
	return http.NewResponseController(st.w).Flush() == nil
}

// reset aborts the connection: a TCP RST through Hijack on HTTP/1, otherwise an
// aborted handler (which resets the HTTP/2 stream).
func (st *sseStream) reset() {
	conn, _, err := http.NewResponseController(st.w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func (s *Server) handleCountTokens(w http.ResponseWriter, r *http.Request) {
	b, err := s.behavior(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, errInvalidRequest, err.Error())
		return
	}
	req, apiErr := parseRequest(recordOf(r).Body, true)
	if apiErr != nil {
		writeError(w, apiErr.status, apiErr.typ, apiErr.msg)
		return
	}
	if !s.prelude(w, r, b) {
		return
	}
	n := inputTokens(req)
	if b.InputTokens != nil {
		n = *b.InputTokens
	}
	writeJSON(w, http.StatusOK, map[string]int{"input_tokens": n})
}
