package geminifake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"sort"
	"strings"

	api "github.com/sluicehq/sluice/internal/apischema/gemini"
	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
)

// The fake's answers are pure functions of the request; they use the
// OpenAI fake's words (Reply, Split, CountTokens), so that a test through a
// translating gateway expects the same text from either fake.

// ThoughtText is the thought summary the fake sends when a request asks
// for thoughts (thinkingConfig.includeThoughts).
func ThoughtText(lastUser string) string {
	words := strings.Fields(lastUser)
	if len(words) > 8 {
		words = words[:8]
	}
	if len(words) == 0 {
		return "Thinking about: (no text)"
	}
	return "Thinking about: " + strings.Join(words, " ")
}

// Signature is the thought signature of the answer with this response id.
func Signature(responseID string) string {
	sum := sha256.Sum256([]byte("signature:" + responseID))
	return base64.StdEncoding.EncodeToString(sum[:24])
}

// answer is what the fake says.
type answer struct {
	thought string // a thought summary, or ""
	text    string
	call    *api.FunctionCall
	sig     string // the signature of the first answer part, or ""
	finish  string
	usage   api.UsageMetadata
}

func (s *Server) handleGenerate(w http.ResponseWriter, r *http.Request, model string, stream bool) {
	b, err := s.behavior(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	req, e := parseBody(recordOf(r).Body)
	if e == nil {
		e = validateGenerate(req, model)
	}
	if e != nil {
		writeAPIError(w, e)
		return
	}
	if !s.prelude(w, r, b) {
		return
	}
	id := responseID(r)
	a := makeAnswer(req, b, model, id)
	if stream {
		s.stream(w, r, b, a, model, id, r.URL.Query().Get("alt") == "sse")
		return
	}
	if b.Hang == HangAfterHeaders {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		s.Hang(r.Context())
		return
	}
	var parts []api.Part
	if a.thought != "" {
		parts = append(parts, api.Part{Text: &a.thought, Thought: true})
	}
	parts = append(parts, a.part(a.text, true))
	usage := a.usage
	writeJSON(w, http.StatusOK, api.GenerateContentResponse{
		Candidates:    []api.Candidate{{Content: &api.Content{Role: "model", Parts: parts}, FinishReason: a.finish}},
		UsageMetadata: &usage,
		ModelVersion:  model,
		ResponseID:    id,
	})
}

// part is the answer's part: its function call, or the text t; first parts
// carry the signature.
func (a *answer) part(t string, first bool) api.Part {
	var p api.Part
	if a.call != nil {
		p.FunctionCall = a.call
	} else {
		p.Text = &t
	}
	if first {
		p.ThoughtSignature = a.sig
	}
	return p
}

// lastUserText is the text of the last user content, or the responses of
// the last content when it holds function responses.
func lastUserText(contents []any) (string, bool) {
	for i := len(contents) - 1; i >= 0; i-- {
		co, _ := contents[i].(obj)
		if getString(co, "role") == "model" {
			continue
		}
		var texts []string
		answered := false
		for _, p := range getList(co, "parts") {
			po, _ := p.(obj)
			if t, ok := get(po, "text").(string); ok {
				texts = append(texts, t)
			}
			if fr, ok := get(po, "functionResponse").(obj); ok {
				answered = true
				resp, _ := json.Marshal(get(fr, "response"))
				texts = append(texts, string(resp))
			}
		}
		return strings.Join(texts, " "), answered && i == len(contents)-1
	}
	return "", false
}

// promptTokens counts the words of the system instruction and contents, at
// least 1.
func promptTokens(req obj) int {
	n := 0
	count := func(c any) {
		co, _ := c.(obj)
		for _, p := range getList(co, "parts") {
			po, _ := p.(obj)
			if t, ok := get(po, "text").(string); ok {
				n += openaifake.CountTokens(t)
			}
			for _, k := range []string{"functionCall", "functionResponse"} {
				if v := get(po, k); v != nil {
					j, _ := json.Marshal(v)
					n += openaifake.CountTokens(strings.NewReplacer(",", " ", ":", " ").Replace(string(j)))
				}
			}
		}
	}
	if si := get(req, "systemInstruction"); si != nil {
		count(si)
	}
	for _, c := range getList(req, "contents") {
		count(c)
	}
	return max(n, 1)
}

// chooseFunction returns the declaration the fake calls, or nil: the first
// declared function (the first allowed one with mode ANY), unless mode is
// NONE or the conversation ends with function responses (and mode is not
// ANY).
func chooseFunction(req obj, answered bool) obj {
	var decls []obj
	for _, t := range getList(req, "tools") {
		to, _ := t.(obj)
		for _, d := range getList(to, "functionDeclarations") {
			if do, ok := d.(obj); ok {
				decls = append(decls, do)
			}
		}
	}
	if len(decls) == 0 {
		return nil
	}
	fc := getObj(getObj(req, "toolConfig"), "functionCallingConfig")
	mode := strings.ToUpper(getString(fc, "mode"))
	switch {
	case mode == "NONE":
		return nil
	case answered && mode != "ANY":
		return nil
	}
	allowed := map[string]bool{}
	for _, n := range getList(fc, "allowedFunctionNames") {
		if s, ok := n.(string); ok {
			allowed[s] = true
		}
	}
	for _, d := range decls {
		if len(allowed) == 0 || allowed[getString(d, "name")] {
			return d
		}
	}
	return decls[0]
}

func makeAnswer(req obj, b *Behavior, model, id string) *answer {
	contents := getList(req, "contents")
	lastUser, answered := lastUserText(contents)
	gc := getObj(req, "generationConfig")
	tc := getObj(gc, "thinkingConfig")
	a := &answer{finish: api.FinishStop}
	if inc, _ := get(tc, "includeThoughts").(bool); inc {
		a.thought = ThoughtText(lastUser)
	}
	if d := chooseFunction(req, answered); d != nil {
		schema := get(d, "parametersJsonSchema")
		if schema == nil {
			schema = get(d, "parameters")
		}
		a.call = &api.FunctionCall{Name: getString(d, "name"), Args: json.RawMessage(ToolArguments(schema, lastUser))}
	} else {
		a.text = b.Content
		if a.text == "" {
			a.text = openaifake.Reply(lastUser, 0, b.Chunks)
		}
		if strings.EqualFold(getString(gc, "responseMimeType"), "application/json") && b.Content == "" {
			schema := get(gc, "responseJsonSchema")
			if schema == nil {
				schema = get(gc, "responseSchema")
			}
			if so, ok := schema.(obj); ok && getObj(so, "properties") != nil {
				a.text = ToolArguments(schema, lastUser)
			} else {
				j, _ := json.Marshal(map[string]string{"echo": a.text})
				a.text = string(j)
			}
		} else {
			for _, st := range getList(gc, "stopSequences") {
				if s, ok := st.(string); ok && s != "" {
					if i := strings.Index(a.text, s); i >= 0 {
						a.text = a.text[:i]
					}
				}
			}
			if limit, ok := getInt(gc, "maxOutputTokens"); ok && limit > 0 && openaifake.CountTokens(a.text) > limit {
				a.text = strings.Join(openaifake.Split(a.text, 0)[:limit], "")
				a.finish = api.FinishMaxTokens
			}
		}
	}
	if a.thought != "" || (a.call != nil && isGemini3(model)) {
		a.sig = Signature(id)
	}

	u := &a.usage
	u.PromptTokenCount = int64(promptTokens(req))
	if a.call != nil {
		u.CandidatesTokenCount = int64(openaifake.CountTokens(a.call.Name) + openaifake.CountTokens(string(a.call.Args)))
	} else {
		u.CandidatesTokenCount = int64(openaifake.CountTokens(a.text))
	}
	u.ThoughtsTokenCount = int64(openaifake.CountTokens(a.thought))
	if b.PromptTokens != nil {
		u.PromptTokenCount = int64(*b.PromptTokens)
	}
	if b.CompletionTokens != nil {
		u.CandidatesTokenCount = int64(*b.CompletionTokens)
	}
	if b.CachedTokens != nil {
		u.CachedContentTokenCount = int64(*b.CachedTokens)
	}
	if b.ThoughtsTokens != nil {
		u.ThoughtsTokenCount = int64(*b.ThoughtsTokens)
	}
	u.TotalTokenCount = u.PromptTokenCount + u.CandidatesTokenCount + u.ThoughtsTokenCount
	u.PromptTokensDetails = []api.ModalityTokenCount{{Modality: "TEXT", TokenCount: u.PromptTokenCount}}
	return a
}

// ToolArguments returns the JSON arguments the fake passes to a function
// whose parameters schema (JSON Schema, or Gemini's OpenAPI subset with
// upper-case types) is schema: an object with every declared property, in
// sorted order, set to its first enum value, or by type: string -> the
// first 8 words of the last user text ("fake" when empty), integer -> 1,
// number -> 1.5, boolean -> true, array -> [], object -> {}, else null.
// It is also the fake's JSON answer for a response schema.
func ToolArguments(schema any, lastUser string) string {
	so, _ := schema.(obj)
	props := getObj(so, "properties")
	words := strings.Fields(lastUser)
	if len(words) > 8 {
		words = words[:8]
	}
	str := strings.Join(words, " ")
	if str == "" {
		str = "fake"
	}
	names := make([]string, 0, len(props))
	for name := range props {
		names = append(names, name)
	}
	sort.Strings(names)
	var sb strings.Builder
	sb.WriteByte('{')
	for i, name := range names {
		if i > 0 {
			sb.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		sb.Write(k)
		sb.WriteByte(':')
		p, _ := props[name].(obj)
		if enum, ok := p["enum"].([]any); ok && len(enum) > 0 {
			v, _ := json.Marshal(enum[0])
			sb.Write(v)
			continue
		}
		var typ string
		switch t := p["type"].(type) {
		case string:
			typ = t
		case []any:
			if len(t) > 0 {
				typ, _ = t[0].(string)
			}
		}
		switch strings.ToLower(typ) {
		case "string":
			v, _ := json.Marshal(str)
			sb.Write(v)
		case "integer":
			sb.WriteString("1")
		case "number":
			sb.WriteString("1.5")
		case "boolean":
			sb.WriteString("true")
		case "array":
			sb.WriteString("[]")
		case "object":
			sb.WriteString("{}")
		default:
			sb.WriteString("null")
		}
	}
	sb.WriteByte('}')
	return sb.String()
}

// stream sends the answer as streamGenerateContent does: with alt=sse,
// "data: {chunk}" events separated by CRLF CRLF; without, a JSON array
// whose elements arrive one by one. The thought summary comes first, then
// the text in pieces (or the function call whole); every chunk carries the
// prompt's usage, and the last one the finishReason and the full usage.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, b *Behavior, a *answer, model, id string, sse bool) {
	if sse {
		w.Header().Set("Content-Type", "text/event-stream")
	} else {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if err := http.NewResponseController(w).Flush(); err != nil {
		return
	}
	st := &chunkStream{s: s, w: w, r: r, b: b, sse: sse}
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
	partial := api.UsageMetadata{
		PromptTokenCount:    a.usage.PromptTokenCount,
		TotalTokenCount:     a.usage.PromptTokenCount,
		PromptTokensDetails: a.usage.PromptTokensDetails,
	}
	chunk := func(p api.Part, finish string) api.GenerateContentResponse {
		u := partial
		if finish != "" {
			u = a.usage
		}
		return api.GenerateContentResponse{
			Candidates:    []api.Candidate{{Content: &api.Content{Role: "model", Parts: []api.Part{p}}, FinishReason: finish}},
			UsageMetadata: &u,
			ModelVersion:  model,
			ResponseID:    id,
		}
	}
	var chunks []api.GenerateContentResponse
	if a.thought != "" {
		t := a.thought
		chunks = append(chunks, chunk(api.Part{Text: &t, Thought: true}, ""))
	}
	if a.call != nil {
		chunks = append(chunks, chunk(a.part("", true), a.finish))
	} else {
		pieces := openaifake.Split(a.text, b.Chunks)
		if len(pieces) == 0 {
			pieces = []string{""}
		}
		for i, piece := range pieces {
			finish := ""
			if i == len(pieces)-1 {
				finish = a.finish
			}
			chunks = append(chunks, chunk(a.part(piece, i == 0), finish))
		}
	}
	for _, c := range chunks {
		data, err := json.Marshal(c)
		if err != nil || !st.chunk(data) {
			return
		}
	}
	st.end()
}

// chunkStream writes the chunks of a stream and applies the stream part
// of a Behavior.
type chunkStream struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	b      *Behavior
	sse    bool
	events int
}

// chunk writes one chunk; it returns false when the stream must stop (cut,
// reset, client gone).
func (st *chunkStream) chunk(data []byte) bool {
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
	switch {
	case st.sse:
		buf = append(buf, "data: "...)
		buf = append(buf, data...)
		buf = append(buf, "\r\n\r\n"...)
	case st.events == 0:
		buf = append(buf, '[')
		buf = append(buf, data...)
	default:
		buf = append(buf, ",\r\n"...)
		buf = append(buf, data...)
	}
	if _, err := st.w.Write(buf); err != nil {
		return false
	}
	st.events++
	fakeserver.SetEvents(st.w, st.events)
	return http.NewResponseController(st.w).Flush() == nil
}

// end closes the JSON array of a non-SSE stream and marks the response
// complete.
func (st *chunkStream) end() {
	if !st.sse {
		if _, err := st.w.Write([]byte("]")); err != nil {
			return
		}
	}
	fakeserver.MarkComplete(st.w)
}

// reset aborts the connection: a TCP RST through Hijack on HTTP/1,
// otherwise an aborted handler (which resets the HTTP/2 stream).
func (st *chunkStream) reset() {
	conn, _, err := http.NewResponseController(st.w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func (s *Server) handleCountTokens(w http.ResponseWriter, r *http.Request, model string) {
	b, err := s.behavior(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	req, e := parseBody(recordOf(r).Body)
	if e != nil {
		writeAPIError(w, e)
		return
	}
	if e := checkFields(req, set("contents", "generateContentRequest"), ""); e != nil {
		writeAPIError(w, e)
		return
	}
	counted := req
	if gr := getObj(req, "generateContentRequest"); gr != nil {
		if get(req, "contents") != nil {
			writeAPIError(w, badRequest("* CountTokensRequest: contents and generate_content_request cannot both be set.\n"))
			return
		}
		if e := validateGenerate(gr, model); e != nil {
			writeAPIError(w, e)
			return
		}
		counted = gr
	} else if e := validateContents(getList(req, "contents"), "contents"); e != nil {
		writeAPIError(w, e)
		return
	}
	if !s.prelude(w, r, b) {
		return
	}
	n := int64(promptTokens(counted))
	if b.PromptTokens != nil {
		n = int64(*b.PromptTokens)
	}
	writeJSON(w, http.StatusOK, api.CountTokensResponse{
		TotalTokens:         n,
		PromptTokensDetails: []api.ModalityTokenCount{{Modality: "TEXT", TokenCount: n}},
	})
}
