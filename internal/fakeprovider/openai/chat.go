package openaifake

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
)

// chatRequest is the part of a chat completion request the fake reads.
type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	N                   *int            `json:"n"`
	Stop                json.RawMessage `json:"stop"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Tools               []struct {
		Type     string `json:"type"`
		Function struct {
			Name       string          `json:"name"`
			Parameters json.RawMessage `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
	ToolChoice json.RawMessage `json:"tool_choice"`
}

// Usage is OpenAI's usage object of a chat completion.
type Usage struct {
	PromptTokens            int                     `json:"prompt_tokens"`
	CompletionTokens        int                     `json:"completion_tokens"`
	TotalTokens             int                     `json:"total_tokens"`
	PromptTokensDetails     PromptTokensDetails     `json:"prompt_tokens_details"`
	CompletionTokensDetails CompletionTokensDetails `json:"completion_tokens_details"`
}

// PromptTokensDetails breaks down prompt tokens.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
	AudioTokens  int `json:"audio_tokens"`
}

// CompletionTokensDetails breaks down completion tokens.
type CompletionTokensDetails struct {
	ReasoningTokens          int `json:"reasoning_tokens"`
	AudioTokens              int `json:"audio_tokens"`
	AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
	RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
}

// toolCall is the fake's answer when the request offers tools.
type toolCall struct {
	ID        string
	Name      string
	Arguments string
}

// answer is what the fake says for one choice.
type answer struct {
	text         string // reply text, when tool is nil
	tool         *toolCall
	finishReason string
}

func (a answer) tokens() int {
	if a.tool != nil {
		return CountTokens(a.tool.Name) + CountTokens(a.tool.Arguments)
	}
	return CountTokens(a.text)
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	b, err := s.behavior(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "invalid_request_error", "", "")
		return
	}
	var req chatRequest
	if err := json.Unmarshal(recordOf(r).Body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)", "invalid_request_error", "", "")
		return
	}
	if apiErr := validateChat(&req); apiErr != nil {
		writeAPIError(w, apiErr)
		return
	}
	if !s.prelude(w, r, b) {
		return
	}
	n := 1
	if req.N != nil {
		n = *req.N
	}
	answers := make([]answer, n)
	for i := range answers {
		answers[i] = makeAnswer(&req, b, i, recordOf(r).Seq)
	}
	usage := Usage{PromptTokens: promptTokens(req.Messages)}
	for _, a := range answers {
		usage.CompletionTokens += a.tokens()
	}
	if b.PromptTokens != nil {
		usage.PromptTokens = *b.PromptTokens
	}
	if b.CompletionTokens != nil {
		usage.CompletionTokens = *b.CompletionTokens
	}
	if b.CachedTokens != nil {
		usage.PromptTokensDetails.CachedTokens = *b.CachedTokens
	}
	usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens

	setCommonHeaders(w, r, req.Model)
	if req.Stream {
		s.streamChat(w, r, b, &req, answers, usage)
		return
	}
	if b.Hang == HangAfterHeaders {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		s.Hang(r.Context())
		return
	}
	writeJSON(w, http.StatusOK, completion{
		ID:                responseID("chatcmpl-fake", r),
		Object:            "chat.completion",
		Created:           s.opts.Now().Unix(),
		Model:             req.Model,
		Choices:           completionChoices(answers),
		Usage:             usage,
		ServiceTier:       "default",
		SystemFingerprint: "fp_fake",
	})
}

func validateChat(req *chatRequest) *apiError {
	switch {
	case req.Model == "":
		return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", msg: "you must provide a model parameter"}
	case len(req.Messages) == 0:
		return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: "messages", code: "missing_required_parameter",
			msg: "Missing required parameter: 'messages'."}
	case req.N != nil && (*req.N < 1 || *req.N > 128):
		return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: "n", code: "integer_out_of_range",
			msg: fmt.Sprintf("Invalid 'n': integer out of range: expected a value between 1 and 128, but got %d instead.", *req.N)}
	}
	return nil
}

// makeAnswer decides the answer of choice index: a call to a tool when the request
// offers function tools (and tool_choice is not "none" and the conversation does not
// end with a tool result), the reply text otherwise, cut at a stop sequence or at
// max_tokens words.
func makeAnswer(req *chatRequest, b *Behavior, index, seq int) answer {
	lastUser := lastUserText(req.Messages)
	if fn := chosenTool(req); fn >= 0 {
		name := req.Tools[fn].Function.Name
		return answer{
			tool: &toolCall{
				ID:        ToolCallID(seq, name) + suffix(index),
				Name:      name,
				Arguments: ToolArguments(req.Tools[fn].Function.Parameters, lastUser),
			},
			finishReason: "tool_calls",
		}
	}
	text := b.Content
	if text == "" {
		text = Reply(lastUser, index, b.Chunks)
	}
	a := answer{text: text, finishReason: "stop"}
	for _, stop := range stopSequences(req.Stop) {
		if i := strings.Index(a.text, stop); stop != "" && i >= 0 {
			a.text = a.text[:i]
		}
	}
	limit := req.MaxCompletionTokens
	if limit == nil {
		limit = req.MaxTokens
	}
	if limit != nil && *limit > 0 && CountTokens(a.text) > *limit {
		a.text = strings.Join(Split(a.text, 0)[:*limit], "")
		a.finishReason = "length"
	}
	return a
}

func suffix(index int) string {
	if index == 0 {
		return ""
	}
	return fmt.Sprintf("_%d", index)
}

// chosenTool returns the index of the function tool to call, or -1.
func chosenTool(req *chatRequest) int {
	if len(req.Messages) > 0 && req.Messages[len(req.Messages)-1].Role == "tool" {
		return -1
	}
	var choice string
	var named struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(req.ToolChoice, &choice) == nil && choice == "none" {
		return -1
	}
	_ = json.Unmarshal(req.ToolChoice, &named)
	first := -1
	for i, t := range req.Tools {
		if t.Type != "function" && t.Type != "" {
			continue
		}
		if named.Function.Name != "" {
			if t.Function.Name == named.Function.Name {
				return i
			}
			continue
		}
		if first < 0 {
			first = i
		}
	}
	return first
}

func stopSequences(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

// completion is a non-stream chat.completion object.
type completion struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	Choices           []completionChoice `json:"choices"`
	Usage             Usage              `json:"usage"`
	ServiceTier       string             `json:"service_tier"`
	SystemFingerprint string             `json:"system_fingerprint"`
}

type completionChoice struct {
	Index        int             `json:"index"`
	Message      message         `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type message struct {
	Role        string            `json:"role"`
	Content     *string           `json:"content"`
	Refusal     *string           `json:"refusal"`
	ToolCalls   []messageToolCall `json:"tool_calls,omitempty"`
	Annotations []any             `json:"annotations"`
}

type messageToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

var jsonNull = json.RawMessage("null")

func completionChoices(answers []answer) []completionChoice {
	out := make([]completionChoice, len(answers))
	for i, a := range answers {
		m := message{Role: "assistant", Annotations: []any{}}
		if a.tool != nil {
			tc := messageToolCall{ID: a.tool.ID, Type: "function"}
			tc.Function.Name = a.tool.Name
			tc.Function.Arguments = a.tool.Arguments
			m.ToolCalls = []messageToolCall{tc}
		} else {
			text := a.text
			m.Content = &text
		}
		out[i] = completionChoice{Index: i, Message: m, Logprobs: jsonNull, FinishReason: a.finishReason}
	}
	return out
}

// chunk is a chat.completion.chunk object.
type chunk struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	ServiceTier       string          `json:"service_tier"`
	SystemFingerprint string          `json:"system_fingerprint"`
	Choices           []chunkChoice   `json:"choices"`
	Usage             json.RawMessage `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int             `json:"index"`
	Delta        delta           `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type delta struct {
	Role      string          `json:"role,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	Refusal   json.RawMessage `json:"refusal,omitempty"`
	ToolCalls []deltaToolCall `json:"tool_calls,omitempty"`
}

type deltaToolCall struct {
	Index    int           `json:"index"`
	ID       string        `json:"id,omitempty"`
	Type     string        `json:"type,omitempty"`
	Function deltaFunction `json:"function"`
}

type deltaFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// toolArgumentChunk is the size of the argument fragments of a streamed tool call
// when the behavior does not set a chunk count.
const toolArgumentChunk = 8

// streamChat sends the answers as OpenAI streams them: per choice a first chunk with
// the role (and the tool call's id, type and name with empty arguments), then content
// or argument fragments, then a chunk with finish_reason; then, when usage is asked
// for, a chunk with empty choices and usage; then [DONE]. Choices are interleaved.
func (s *Server) streamChat(w http.ResponseWriter, r *http.Request, b *Behavior, req *chatRequest, answers []answer, usage Usage) {
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	mode := b.Usage
	if mode == UsageDefault {
		mode = UsageNone
		if includeUsage {
			mode = UsageLast
		}
	}
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

	// Each choice's deltas after the first one.
	pieces := make([][]delta, len(answers))
	total := 0
	for i, a := range answers {
		if a.tool != nil {
			frags := SplitBytes(a.tool.Arguments, toolArgumentChunk)
			if b.Chunks > 0 {
				frags = SplitBytes(a.tool.Arguments, max(1, (len(a.tool.Arguments)+b.Chunks-1)/b.Chunks))
			}
			for _, f := range frags {
				pieces[i] = append(pieces[i], delta{ToolCalls: []deltaToolCall{{Index: 0, Function: deltaFunction{Arguments: f}}}})
			}
		} else {
			for _, p := range Split(a.text, b.Chunks) {
				pieces[i] = append(pieces[i], delta{Content: mustJSON(p)})
			}
		}
		total += len(pieces[i])
	}
	base := chunk{
		ID:                responseID("chatcmpl-fake", r),
		Object:            "chat.completion.chunk",
		Created:           s.opts.Now().Unix(),
		Model:             req.Model,
		ServiceTier:       "default",
		SystemFingerprint: "fp_fake",
	}
	sent := 0
	usageAt := func(final bool) json.RawMessage {
		switch {
		case mode == UsageEvery:
			u := usage
			if !final && total > 0 {
				u.CompletionTokens = usage.CompletionTokens * sent / total
				u.TotalTokens = u.PromptTokens + u.CompletionTokens
			}
			return mustJSON(u)
		case mode == UsageLast && final:
			return mustJSON(usage)
		case mode == UsageLast && includeUsage:
			// OpenAI puts "usage":null on every other chunk when usage is asked for.
			return jsonNull
		}
		return nil
	}
	send := func(index int, d delta, finish string) bool {
		c := base
		ch := chunkChoice{Index: index, Delta: d, Logprobs: jsonNull}
		if finish != "" {
			ch.FinishReason = &finish
		}
		c.Choices = []chunkChoice{ch}
		c.Usage = usageAt(false)
		return st.event(mustJSON(c))
	}

	for i, a := range answers {
		first := delta{Role: "assistant", Refusal: jsonNull}
		if a.tool != nil {
			first.Content = jsonNull
			first.ToolCalls = []deltaToolCall{{Index: 0, ID: a.tool.ID, Type: "function",
				Function: deltaFunction{Name: a.tool.Name, Arguments: ""}}}
		} else {
			first.Content = mustJSON("")
		}
		if !send(i, first, "") {
			return
		}
	}
	for step := 0; ; step++ {
		more := false
		for i := range answers {
			if step >= len(pieces[i]) {
				continue
			}
			more = true
			sent++
			if !send(i, pieces[i][step], "") {
				return
			}
		}
		if !more {
			break
		}
	}
	for i, a := range answers {
		if !send(i, delta{}, a.finishReason) {
			return
		}
	}
	if mode != UsageNone {
		c := base
		c.Choices = []chunkChoice{}
		c.Usage = usageAt(true)
		if !st.event(mustJSON(c)) {
			return
		}
	}
	st.done()
}

// sseStream writes SSE events and applies the stream part of a Behavior.
type sseStream struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	b      *Behavior
	events int
}

// event writes one "data:" event; it returns false when the stream must stop (cut,
// reset, client gone).
func (st *sseStream) event(data []byte) bool {
	if st.events > 0 && st.b.ChunkDelay > 0 && !st.s.Sleep(st.r.Context(), st.b.ChunkDelay) {
		return false
	}
	if st.b.CutAfter > 0 && st.events >= st.b.CutAfter {
		return false
	}
	if st.b.ResetAfter > 0 && st.events >= st.b.ResetAfter {
		st.reset()
		return false
	}
	buf := make([]byte, 0, len(data)+8)
	buf = append(buf, "data: "...)
	buf = append(buf, data...)
	buf = append(buf, "\n\n"...)
	if _, err := st.w.Write(buf); err != nil {
		return false
	}
	st.events++
	fakeserver.SetEvents(st.w, st.events)
	return http.NewResponseController(st.w).Flush() == nil
}

func (st *sseStream) done() {
	if st.event([]byte("[DONE]")) {
		fakeserver.MarkComplete(st.w)
	}
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

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
