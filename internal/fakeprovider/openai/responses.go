package openaifake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
)

// POST /v1/responses: the OpenAI Responses API, answered as deterministically as chat
// completions (the same reply text, tool choice and tool arguments) and scripted by the
// same Behavior. A response has one output item: a message with one output_text part,
// or a function_call. Usage is always in the response object (in streams, in
// response.completed); Behavior.Usage == UsageNone sends it as null.

// responsesRequest is the part of a Responses request the fake reads.
type responsesRequest struct {
	Model           string          `json:"model"`
	Input           json.RawMessage `json:"input"`
	Instructions    json.RawMessage `json:"instructions"`
	Stream          bool            `json:"stream"`
	MaxOutputTokens *int            `json:"max_output_tokens"`
	Tools           []struct {
		Type       string          `json:"type"`
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"tools"`
	ToolChoice json.RawMessage `json:"tool_choice"`
}

// responsesItem is the part of an input item the fake reads.
type responsesItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Output  json.RawMessage `json:"output"`
}

// ResponsesUsage is the usage object of a Responses API response.
type ResponsesUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

// ResponsesText returns the text of a Responses message content or function output:
// the string itself, or the "text" of its input_text and output_text parts joined by
// a space.
func ResponsesText(content json.RawMessage) string {
	var s string
	if json.Unmarshal(content, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(content, &parts)
	var texts []string
	for _, p := range parts {
		if p.Type == "input_text" || p.Type == "output_text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, " ")
}

// responsesInput reads input: a string, or items. It returns the text the fake
// answers (the last user message, or the last function output when the input ends
// with one), whether it ends with a function output, and the prompt's token count.
func responsesInput(req *responsesRequest) (last string, endsWithOutput bool, tokens int, ok bool) {
	var instructions string
	_ = json.Unmarshal(req.Instructions, &instructions)
	tokens = CountTokens(instructions)
	var s string
	if json.Unmarshal(req.Input, &s) == nil {
		return s, false, max(1, tokens+CountTokens(s)), true
	}
	var items []responsesItem
	if json.Unmarshal(req.Input, &items) != nil || len(items) == 0 {
		return "", false, 0, false
	}
	for i, it := range items {
		switch {
		case it.Type == "function_call_output":
			text := ResponsesText(it.Output)
			tokens += CountTokens(text)
			if i == len(items)-1 {
				last, endsWithOutput = text, true
			}
		case it.Type == "message" || (it.Type == "" && it.Role != ""):
			text := ResponsesText(it.Content)
			tokens += CountTokens(text)
			if it.Role == "user" {
				last = text
			}
		}
	}
	return last, endsWithOutput, max(1, tokens), true
}

// responsesTool returns the index of the function tool to call, or -1.
func responsesTool(req *responsesRequest, endsWithOutput bool) int {
	if endsWithOutput {
		return -1
	}
	var choice string
	if json.Unmarshal(req.ToolChoice, &choice) == nil && choice == "none" {
		return -1
	}
	var named struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(req.ToolChoice, &named)
	for i, t := range req.Tools {
		if t.Type == "function" && (named.Name == "" || named.Name == t.Name) {
			return i
		}
	}
	return -1
}

// responsesMessage, responsesOutputText and responsesFunctionCall are output items.
type responsesMessage struct {
	ID      string                `json:"id"`
	Type    string                `json:"type"`
	Status  string                `json:"status"`
	Role    string                `json:"role"`
	Content []responsesOutputText `json:"content"`
}

type responsesOutputText struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
	Logprobs    []any  `json:"logprobs"`
}

type responsesFunctionCall struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	Arguments string `json:"arguments"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
}

// responseObject is a Responses API response.
type responseObject struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	CreatedAt         int64           `json:"created_at"`
	Status            string          `json:"status"`
	Error             json.RawMessage `json:"error"`
	IncompleteDetails any             `json:"incomplete_details"`
	Model             string          `json:"model"`
	Output            []any           `json:"output"`
	ParallelToolCalls bool            `json:"parallel_tool_calls"`
	Store             bool            `json:"store"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	Usage             json.RawMessage `json:"usage"`
}

func respOutputText(text string) responsesOutputText {
	return responsesOutputText{Type: "output_text", Text: text, Annotations: []any{}, Logprobs: []any{}}
}

func (s *Server) handleResponses(w http.ResponseWriter, r *http.Request) {
	b, err := s.behavior(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "invalid_request_error", "", "")
		return
	}
	var req responsesRequest
	if err := json.Unmarshal(recordOf(r).Body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "We could not parse the JSON body of your request.", "invalid_request_error", "", "")
		return
	}
	lastUser, endsWithOutput, promptTokens, ok := responsesInput(&req)
	switch {
	case req.Model == "":
		writeError(w, http.StatusBadRequest, "Missing required parameter: 'model'.", "invalid_request_error", "model", "missing_required_parameter")
		return
	case !ok:
		writeError(w, http.StatusBadRequest, "Missing required parameter: 'input'.", "invalid_request_error", "input", "missing_required_parameter")
		return
	}
	if !s.prelude(w, r, b) {
		return
	}

	seq := recordOf(r).Seq
	id := responseID("resp_fake", r)
	var a answer
	if fn := responsesTool(&req, endsWithOutput); fn >= 0 {
		t := req.Tools[fn]
		a = answer{tool: &toolCall{ID: ToolCallID(seq, t.Name), Name: t.Name, Arguments: ToolArguments(t.Parameters, lastUser)}}
	} else {
		a.text = b.Content
		if a.text == "" {
			a.text = Reply(lastUser, 0, b.Chunks)
		}
		if n := req.MaxOutputTokens; n != nil && *n > 0 && CountTokens(a.text) > *n {
			a.text = strings.Join(Split(a.text, 0)[:*n], "")
			a.finishReason = "max_output_tokens"
		}
	}
	usage := ResponsesUsage{InputTokens: promptTokens, OutputTokens: a.tokens()}
	if b.PromptTokens != nil {
		usage.InputTokens = *b.PromptTokens
	}
	if b.CompletionTokens != nil {
		usage.OutputTokens = *b.CompletionTokens
	}
	if b.CachedTokens != nil {
		usage.InputTokensDetails.CachedTokens = *b.CachedTokens
	}
	usage.TotalTokens = usage.InputTokens + usage.OutputTokens

	resp := responseObject{ID: id, Object: "response", CreatedAt: s.opts.Now().Unix(), Status: "completed",
		Error: jsonNull, Model: req.Model, Output: []any{}, ParallelToolCalls: true, ToolChoice: req.ToolChoice,
		Usage: mustJSON(usage)}
	if len(resp.ToolChoice) == 0 {
		resp.ToolChoice = mustJSON("auto")
	}
	if b.Usage == UsageNone {
		resp.Usage = jsonNull
	}
	var item any
	if a.tool != nil {
		item = responsesFunctionCall{ID: "fc_" + strings.TrimPrefix(id, "resp_"), Type: "function_call", Status: "completed",
			Arguments: a.tool.Arguments, CallID: a.tool.ID, Name: a.tool.Name}
	} else {
		m := responsesMessage{ID: "msg_" + strings.TrimPrefix(id, "resp_"), Type: "message", Status: "completed", Role: "assistant",
			Content: []responsesOutputText{respOutputText(a.text)}}
		if a.finishReason == "max_output_tokens" {
			m.Status = "incomplete"
			resp.Status = "incomplete"
			resp.IncompleteDetails = map[string]string{"reason": "max_output_tokens"}
		}
		item = m
	}

	setCommonHeaders(w, r, req.Model)
	if req.Stream {
		s.streamResponse(w, r, b, resp, item, a)
		return
	}
	if b.Hang == HangAfterHeaders {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		s.Hang(r.Context())
		return
	}
	resp.Output = []any{item}
	writeJSON(w, http.StatusOK, resp)
}

// streamResponse sends a response as the Responses API streams it: response.created
// and response.in_progress (the response without output or usage), the output item's
// added event, its part's added event, deltas (words of the text, or fragments of
// the arguments), the done events, then response.completed (or response.incomplete)
// with the whole response.
func (s *Server) streamResponse(w http.ResponseWriter, r *http.Request, b *Behavior, final responseObject, item any, a answer) {
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
	seq := 0
	send := func(typ string, fields map[string]any) bool {
		// "type" and "sequence_number" first, as OpenAI sends them.
		data := fmt.Appendf(nil, `{"type":%s,"sequence_number":%d`, mustJSON(typ), seq)
		if rest := mustJSON(fields); len(rest) > 2 {
			data = append(append(data, ','), rest[1:]...)
		} else {
			data = append(data, '}')
		}
		seq++
		return st.namedEvent(typ, data)
	}
	pending := final
	pending.Status, pending.Output, pending.Usage, pending.IncompleteDetails = "in_progress", []any{}, jsonNull, nil
	if !send("response.created", map[string]any{"response": pending}) || !send("response.in_progress", map[string]any{"response": pending}) {
		return
	}
	switch it := item.(type) {
	case responsesMessage:
		added := it
		added.Status, added.Content = "in_progress", []responsesOutputText{}
		at := map[string]any{"item_id": it.ID, "output_index": 0, "content_index": 0}
		with := func(k string, v any) map[string]any {
			m := map[string]any{k: v}
			for kk, vv := range at {
				m[kk] = vv
			}
			return m
		}
		if !send("response.output_item.added", map[string]any{"output_index": 0, "item": added}) ||
			!send("response.content_part.added", with("part", respOutputText(""))) {
			return
		}
		for _, piece := range Split(a.text, b.Chunks) {
			d := with("delta", piece)
			d["logprobs"] = []any{}
			if !send("response.output_text.delta", d) {
				return
			}
		}
		done := with("text", a.text)
		done["logprobs"] = []any{}
		if !send("response.output_text.done", done) || !send("response.content_part.done", with("part", respOutputText(a.text))) ||
			!send("response.output_item.done", map[string]any{"output_index": 0, "item": it}) {
			return
		}
	case responsesFunctionCall:
		added := it
		added.Status, added.Arguments = "in_progress", ""
		if !send("response.output_item.added", map[string]any{"output_index": 0, "item": added}) {
			return
		}
		frags := SplitBytes(it.Arguments, toolArgumentChunk)
		if b.Chunks > 0 {
			frags = SplitBytes(it.Arguments, max(1, (len(it.Arguments)+b.Chunks-1)/b.Chunks))
		}
		for _, f := range frags {
			if !send("response.function_call_arguments.delta", map[string]any{"item_id": it.ID, "output_index": 0, "delta": f}) {
				return
			}
		}
		if !send("response.function_call_arguments.done", map[string]any{"item_id": it.ID, "output_index": 0, "name": it.Name, "arguments": it.Arguments}) ||
			!send("response.output_item.done", map[string]any{"output_index": 0, "item": it}) {
			return
		}
	}
	final.Output = []any{item}
	terminal := "response.completed"
	if final.Status == "incomplete" {
		terminal = "response.incomplete"
	}
	if send(terminal, map[string]any{"response": final}) {
		fakeserver.MarkComplete(st.w)
	}
}

// namedEvent writes one SSE event with an "event:" line, as the Responses API does,
// and applies the stream part of the Behavior like event.
func (st *sseStream) namedEvent(name string, data []byte) bool {
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
	if _, err := fmt.Fprintf(st.w, "event: %s\ndata: %s\n\n", name, data); err != nil {
		return false
	}
	st.events++
	fakeserver.SetEvents(st.w, st.events)
	return http.NewResponseController(st.w).Flush() == nil
}
