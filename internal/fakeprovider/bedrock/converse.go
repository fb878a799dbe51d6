package bedrockfake

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	wire "github.com/sluicehq/sluice/internal/apischema/bedrock"
	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
	"github.com/sluicehq/sluice/internal/protocol/bedrock"
)

// The fake's answers are pure functions of the request (and its arrival
// number, for ids), so that tests can compute what to expect. Words count
// as tokens (openaifake.CountTokens).

// Answer is what the fake says to one request.
type Answer struct {
	// Reasoning and Signature are set when the request asks for thinking
	// (additionalModelRequestFields.thinking.type "enabled").
	Reasoning string
	Signature string
	// Text is the reply, when the answer is not a tool call.
	Text string
	// Tool is the tool call, when the request offers tools and does not end
	// with a tool result.
	Tool *ToolUse
	// StopReason is end_turn, tool_use, max_tokens or stop_sequence;
	// StopSequence the sequence that cut the text.
	StopReason   string
	StopSequence string
	// ReportStopSequence is set when the request asked for
	// additionalModelResponseFieldPaths ["/stop_sequence"] (as Claude
	// answers it): the answer then names StopSequence.
	ReportStopSequence bool
	// Usage, Bedrock's convention (inputTokens excludes cache tokens).
	Usage wire.TokenUsage
}

// ToolUse is the fake's tool call.
type ToolUse struct {
	ID    string
	Name  string
	Input string // JSON object
}

// ToolUseID is the id of the fake's call to tool name in the request with
// this arrival number.
func ToolUseID(seq int, name string) string {
	sum := sha256.Sum256([]byte(name))
	return "tooluse_fake" + strconv.Itoa(seq) + "x" + strconv.FormatUint(uint64(binary.BigEndian.Uint32(sum[:4])), 36)
}

// Signature is the signature of the fake's reasoning text.
func Signature(reasoning string) string {
	sum := sha256.Sum256([]byte(reasoning))
	return "fakesig_" + base64.RawStdEncoding.EncodeToString(sum[:12])
}

// Reasoning is the fake's reasoning about lastUser.
func Reasoning(lastUser string) string {
	words := strings.Fields(lastUser)
	if len(words) > 8 {
		words = words[:8]
	}
	if len(words) == 0 {
		return "Thinking about nothing in particular."
	}
	return "Thinking about: " + strings.Join(words, " ")
}

func (s *Server) handleConverse(w http.ResponseWriter, r *http.Request, stream bool) {
	b, err := s.behavior(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, wire.ErrValidation, err.Error())
		return
	}
	rec := recordOf(r)
	dec := json.NewDecoder(bytes.NewReader(rec.Body))
	dec.DisallowUnknownFields()
	var req wire.ConverseRequest
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, wire.ErrValidation, "Malformed input request: "+err.Error()+", please reformat your input and try again.")
		return
	}
	if msg := validate(&req); msg != "" {
		writeError(w, http.StatusBadRequest, wire.ErrValidation, msg)
		return
	}
	if !s.prelude(w, r, b) {
		return
	}
	a := MakeAnswer(&req, b, rec.Seq)
	if stream {
		s.stream(w, r, b, a)
		return
	}
	if b.Hang == HangAfterHeaders {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		s.Hang(r.Context())
		return
	}
	resp := wire.ConverseResponse{
		Output:     wire.ConverseOutput{Message: &wire.Message{Role: wire.RoleAssistant, Content: a.blocks()}},
		StopReason: a.StopReason,
		Usage:      &a.Usage,
		Metrics:    &wire.Metrics{LatencyMs: 42},
	}
	if a.StopSequence != "" && a.ReportStopSequence {
		resp.AdditionalModelResponseFields = mustJSON(map[string]string{"stop_sequence": a.StopSequence})
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *Answer) blocks() []wire.ContentBlock {
	var out []wire.ContentBlock
	if a.Reasoning != "" {
		out = append(out, wire.ContentBlock{ReasoningContent: &wire.ReasoningContentBlock{
			ReasoningText: &wire.ReasoningTextBlock{Text: a.Reasoning, Signature: a.Signature}}})
	}
	if a.Tool != nil {
		out = append(out, wire.ContentBlock{ToolUse: &wire.ToolUseBlock{ToolUseID: a.Tool.ID, Name: a.Tool.Name, Input: json.RawMessage(a.Tool.Input)}})
	} else {
		text := a.Text
		out = append(out, wire.ContentBlock{Text: &text})
	}
	return out
}

func wantsStopSequence(req *wire.ConverseRequest) bool {
	for _, p := range req.AdditionalModelResponseFieldPaths {
		if p == "/stop_sequence" {
			return true
		}
	}
	return false
}

// validate returns Bedrock's ValidationException message for a request it
// would refuse, or "".
func validate(req *wire.ConverseRequest) string {
	if len(req.Messages) == 0 {
		return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
	}
	usesTools := false
	for i, m := range req.Messages {
		if m.Role != wire.RoleUser && m.Role != wire.RoleAssistant {
			return fmt.Sprintf("1 validation error detected: Value '%s' at 'messages.%d.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]", m.Role, i+1)
		}
		if i == 0 && m.Role != wire.RoleUser {
			return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
		}
		if len(m.Content) == 0 {
			return fmt.Sprintf("The content field in the Message object at messages.%d is empty. Add a ContentBlock object to the content field and try again.", i)
		}
		for j, c := range m.Content {
			if n := members(c); n != 1 {
				return fmt.Sprintf("Malformed input request: the ContentBlock at messages.%d.content.%d must have exactly one member, not %d.", i, j, n)
			}
			switch {
			case c.Text != nil && strings.TrimSpace(*c.Text) == "":
				return fmt.Sprintf("The text field in the ContentBlock object at messages.%d.content.%d is blank. Add text to the text field, and try again.", i, j)
			case c.Image != nil:
				if msg := validateImage(c.Image, fmt.Sprintf("messages.%d.content.%d", i, j)); msg != "" {
					return msg
				}
			case c.ToolUse != nil:
				usesTools = true
				if c.ToolUse.ToolUseID == "" || c.ToolUse.Name == "" || len(c.ToolUse.Input) == 0 {
					return fmt.Sprintf("Malformed input request: the toolUse at messages.%d.content.%d needs toolUseId, name and input.", i, j)
				}
			case c.ToolResult != nil:
				usesTools = true
				if c.ToolResult.ToolUseID == "" || c.ToolResult.Content == nil {
					return fmt.Sprintf("Malformed input request: the toolResult at messages.%d.content.%d needs toolUseId and content.", i, j)
				}
				switch c.ToolResult.Status {
				case "", wire.ToolResultSuccess, wire.ToolResultError:
				default:
					return fmt.Sprintf("1 validation error detected: Value '%s' at toolResult.status failed to satisfy constraint: Member must satisfy enum value set: [success, error]", c.ToolResult.Status)
				}
				for _, rc := range c.ToolResult.Content {
					if rc.Image != nil {
						if msg := validateImage(rc.Image, fmt.Sprintf("messages.%d.content.%d.toolResult", i, j)); msg != "" {
							return msg
						}
					}
				}
			case c.ReasoningContent != nil:
				rc := c.ReasoningContent
				if (rc.ReasoningText == nil) == (rc.RedactedContent == "") {
					return fmt.Sprintf("Malformed input request: the reasoningContent at messages.%d.content.%d must have exactly one member.", i, j)
				}
				if rc.RedactedContent != "" {
					if _, err := base64.StdEncoding.DecodeString(rc.RedactedContent); err != nil {
						return "Malformed input request: redactedContent is not valid base64."
					}
				}
			}
		}
	}
	for i, sb := range req.System {
		if sb.Text != nil && strings.TrimSpace(*sb.Text) == "" {
			return fmt.Sprintf("The text field in the SystemContentBlock object at system.%d is blank.", i)
		}
	}
	if ic := req.InferenceConfig; ic != nil {
		if ic.MaxTokens != nil && *ic.MaxTokens < 1 {
			return "1 validation error detected: Value at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1"
		}
		if ic.Temperature != nil && (*ic.Temperature < 0 || *ic.Temperature > 1) {
			return "1 validation error detected: Value at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value between 0 and 1"
		}
	}
	if tc := req.ToolConfig; tc != nil {
		if len(tc.Tools) == 0 {
			return "1 validation error detected: Value '[]' at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1"
		}
		names := map[string]bool{}
		for _, t := range tc.Tools {
			if t.ToolSpec == nil || t.ToolSpec.Name == "" || !json.Valid(t.ToolSpec.InputSchema.JSON) {
				return "Malformed input request: a tool needs a toolSpec with a name and an inputSchema."
			}
			names[t.ToolSpec.Name] = true
		}
		if ch := tc.ToolChoice; ch != nil {
			n := 0
			for _, set := range []bool{ch.Auto != nil, ch.Any != nil, ch.Tool != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				return "Malformed input request: toolChoice must have exactly one member."
			}
			if ch.Tool != nil && !names[ch.Tool.Name] {
				return fmt.Sprintf("The tool %s in toolChoice is not in the tools list.", ch.Tool.Name)
			}
		}
	} else if usesTools {
		return "The toolConfig field must be defined when using toolUse and toolResult content blocks."
	}
	if oc := req.OutputConfig; oc != nil && oc.TextFormat != nil {
		tf := oc.TextFormat
		if tf.Type != wire.OutputFormatJSONSchema || tf.Structure.JSONSchema == nil || !json.Valid([]byte(tf.Structure.JSONSchema.Schema)) {
			return "Malformed input request: outputConfig.textFormat needs type json_schema and a JSON schema string."
		}
	}
	if len(req.AdditionalModelRequestFields) > 0 {
		var f map[string]json.RawMessage
		if json.Unmarshal(req.AdditionalModelRequestFields, &f) != nil {
			return "Malformed input request: additionalModelRequestFields must be a JSON object."
		}
	}
	return ""
}

func validateImage(img *wire.ImageBlock, where string) string {
	switch img.Format {
	case wire.ImagePNG, wire.ImageJPEG, wire.ImageGIF, wire.ImageWebP:
	default:
		return fmt.Sprintf("1 validation error detected: Value '%s' at '%s.image.format' failed to satisfy constraint: Member must satisfy enum value set: [png, jpeg, gif, webp]", img.Format, where)
	}
	if img.Source.Bytes == "" && len(img.Source.S3Location) == 0 {
		return fmt.Sprintf("Malformed input request: the image at %s has no source.", where)
	}
	if img.Source.Bytes != "" {
		if _, err := base64.StdEncoding.DecodeString(img.Source.Bytes); err != nil {
			return fmt.Sprintf("Malformed input request: the image bytes at %s are not valid base64.", where)
		}
	}
	return ""
}

func members(c wire.ContentBlock) int {
	n := 0
	for _, set := range []bool{c.Text != nil, c.Image != nil, c.ToolUse != nil, c.ToolResult != nil,
		c.ReasoningContent != nil, c.CitationsContent != nil, c.Document != nil, c.Video != nil,
		c.Audio != nil, c.GuardContent != nil, c.CachePoint != nil, c.SearchResult != nil} {
		if set {
			n++
		}
	}
	return n
}

// MakeAnswer decides the answer to req, the request with arrival number
// seq: reasoning first when thinking is enabled; then a call to a tool when
// the request offers tools (toolChoice's tool, else the first) and does not
// end with a tool result; else the reply text ("Echo: <words of the last
// user message>", or the JSON the output schema describes), cut at a stop
// sequence or at maxTokens words.
func MakeAnswer(req *wire.ConverseRequest, b *Behavior, seq int) *Answer {
	lastUser, endsWithResult := lastUserText(req.Messages)
	a := &Answer{StopReason: wire.StopEndTurn}
	if thinkingEnabled(req.AdditionalModelRequestFields) {
		a.Reasoning = Reasoning(lastUser)
		a.Signature = Signature(a.Reasoning)
	}
	if tc := req.ToolConfig; tc != nil && len(tc.Tools) > 0 && !endsWithResult {
		spec := tc.Tools[0].ToolSpec
		if tc.ToolChoice != nil && tc.ToolChoice.Tool != nil {
			for _, t := range tc.Tools {
				if t.ToolSpec != nil && t.ToolSpec.Name == tc.ToolChoice.Tool.Name {
					spec = t.ToolSpec
				}
			}
		}
		if spec != nil {
			a.Tool = &ToolUse{ID: ToolUseID(seq, spec.Name), Name: spec.Name, Input: openaifake.ToolArguments(spec.InputSchema.JSON, lastUser)}
			a.StopReason = wire.StopToolUse
		}
	}
	if a.Tool == nil {
		a.Text = b.Content
		if a.Text == "" {
			if schema := outputSchema(req); schema != nil {
				a.Text = openaifake.ToolArguments(schema, lastUser)
			} else {
				a.Text = openaifake.Reply(lastUser, 0, b.Chunks)
			}
		}
		if ic := req.InferenceConfig; ic != nil {
			cut := -1
			for _, stop := range ic.StopSequences {
				if i := strings.Index(a.Text, stop); stop != "" && i >= 0 && (cut < 0 || i < cut) {
					cut, a.StopSequence = i, stop
				}
			}
			if cut >= 0 {
				a.Text, a.StopReason = a.Text[:cut], wire.StopStopSequence
				a.ReportStopSequence = wantsStopSequence(req)
			}
			if ic.MaxTokens != nil && openaifake.CountTokens(a.Text) > *ic.MaxTokens {
				a.Text = strings.Join(openaifake.Split(a.Text, 0)[:*ic.MaxTokens], "")
				a.StopReason, a.StopSequence, a.ReportStopSequence = wire.StopMaxTokens, "", false
			}
		}
	}
	out := openaifake.CountTokens(a.Reasoning) + openaifake.CountTokens(a.Text)
	if a.Tool != nil {
		out += openaifake.CountTokens(a.Tool.Name) + openaifake.CountTokens(a.Tool.Input)
	}
	u := wire.TokenUsage{InputTokens: promptTokens(req), OutputTokens: out}
	if b.InputTokens != nil {
		u.InputTokens = *b.InputTokens
	}
	if b.OutputTokens != nil {
		u.OutputTokens = *b.OutputTokens
	}
	u.CacheReadInputTokens, u.CacheWriteInputTokens = b.CacheReadTokens, b.CacheWriteTokens
	u.TotalTokens = u.InputTokens + u.OutputTokens
	if u.CacheReadInputTokens != nil {
		u.TotalTokens += *u.CacheReadInputTokens
	}
	if u.CacheWriteInputTokens != nil {
		u.TotalTokens += *u.CacheWriteInputTokens
	}
	a.Usage = u
	return a
}

func thinkingEnabled(fields json.RawMessage) bool {
	var f struct {
		Thinking struct {
			Type string `json:"type"`
		} `json:"thinking"`
	}
	return json.Unmarshal(fields, &f) == nil && f.Thinking.Type == "enabled"
}

func outputSchema(req *wire.ConverseRequest) json.RawMessage {
	if oc := req.OutputConfig; oc != nil && oc.TextFormat != nil && oc.TextFormat.Structure.JSONSchema != nil {
		return json.RawMessage(oc.TextFormat.Structure.JSONSchema.Schema)
	}
	return nil
}

// lastUserText returns the text of the last user message (of its tool
// results when it has no text), and whether it holds tool results.
func lastUserText(msgs []wire.Message) (string, bool) {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != wire.RoleUser {
			continue
		}
		var texts, results []string
		hasResult := false
		for _, c := range msgs[i].Content {
			switch {
			case c.Text != nil:
				texts = append(texts, *c.Text)
			case c.ToolResult != nil:
				hasResult = true
				for _, rc := range c.ToolResult.Content {
					if rc.Text != nil {
						results = append(results, *rc.Text)
					}
				}
			}
		}
		if len(texts) == 0 {
			texts = results
		}
		return strings.Join(texts, " "), hasResult && i == len(msgs)-1
	}
	return "", false
}

// promptTokens counts the words of every text of the system prompt and the
// messages, at least 1.
func promptTokens(req *wire.ConverseRequest) int {
	n := 0
	for _, sb := range req.System {
		if sb.Text != nil {
			n += openaifake.CountTokens(*sb.Text)
		}
	}
	for _, m := range req.Messages {
		for _, c := range m.Content {
			switch {
			case c.Text != nil:
				n += openaifake.CountTokens(*c.Text)
			case c.ToolResult != nil:
				for _, rc := range c.ToolResult.Content {
					if rc.Text != nil {
						n += openaifake.CountTokens(*rc.Text)
					}
				}
			case c.ReasoningContent != nil && c.ReasoningContent.ReasoningText != nil:
				n += openaifake.CountTokens(c.ReasoningContent.ReasoningText.Text)
			}
		}
	}
	return max(n, 1)
}

// toolInputChunk is the size of tool input fragments when the behavior sets
// no chunk count.
const toolInputChunk = 8

// stream sends the answer as ConverseStream does: messageStart; reasoning
// deltas, its signature, contentBlockStop; then text deltas (text blocks
// have no contentBlockStart) or a toolUse contentBlockStart and input
// deltas; contentBlockStop; messageStop; metadata (usage and metrics).
// Every payload carries Bedrock's "p" padding field.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, b *Behavior, a *Answer) {
	w.Header().Set("Content-Type", wire.StreamContentType)
	w.WriteHeader(http.StatusOK)
	if err := http.NewResponseController(w).Flush(); err != nil {
		return
	}
	st := &eventStream{s: s, w: w, r: r, b: b}
	switch {
	case b.Hang == HangAfterHeaders:
		s.Hang(r.Context())
		return
	case b.CutAfter < 0:
		return
	case b.ResetAfter < 0:
		st.reset()
		return
	case b.ExceptionAfter < 0:
		st.exception()
		return
	}
	type ev struct {
		typ     string
		payload map[string]any
	}
	var evs []ev
	add := func(typ string, payload map[string]any) { evs = append(evs, ev{typ, payload}) }
	add(wire.EventMessageStart, map[string]any{"role": wire.RoleAssistant})
	index := 0
	if a.Reasoning != "" {
		for _, piece := range openaifake.Split(a.Reasoning, b.Chunks) {
			add(wire.EventContentBlockDelta, map[string]any{"contentBlockIndex": index,
				"delta": map[string]any{"reasoningContent": map[string]any{"text": piece}}})
		}
		add(wire.EventContentBlockDelta, map[string]any{"contentBlockIndex": index,
			"delta": map[string]any{"reasoningContent": map[string]any{"signature": a.Signature}}})
		add(wire.EventContentBlockStop, map[string]any{"contentBlockIndex": index})
		index++
	}
	if a.Tool != nil {
		add(wire.EventContentBlockStart, map[string]any{"contentBlockIndex": index,
			"start": map[string]any{"toolUse": map[string]any{"toolUseId": a.Tool.ID, "name": a.Tool.Name}}})
		size := toolInputChunk
		if b.Chunks > 0 {
			size = max(1, (len(a.Tool.Input)+b.Chunks-1)/b.Chunks)
		}
		for _, piece := range openaifake.SplitBytes(a.Tool.Input, size) {
			add(wire.EventContentBlockDelta, map[string]any{"contentBlockIndex": index,
				"delta": map[string]any{"toolUse": map[string]any{"input": piece}}})
		}
	} else {
		pieces := openaifake.Split(a.Text, b.Chunks)
		if len(pieces) == 0 {
			pieces = []string{""}
		}
		for _, piece := range pieces {
			add(wire.EventContentBlockDelta, map[string]any{"contentBlockIndex": index,
				"delta": map[string]any{"text": piece}})
		}
	}
	add(wire.EventContentBlockStop, map[string]any{"contentBlockIndex": index})
	stop := map[string]any{"stopReason": a.StopReason}
	if a.StopSequence != "" && a.ReportStopSequence {
		stop["additionalModelResponseFields"] = map[string]any{"stop_sequence": a.StopSequence}
	}
	add(wire.EventMessageStop, stop)
	if !b.NoMetadata {
		add(wire.EventMetadata, map[string]any{"usage": a.Usage, "metrics": map[string]any{"latencyMs": 42}})
	}
	for i, e := range evs {
		e.payload["p"] = padding(i)
		if !st.event(e.typ, mustJSON(e.payload)) {
			return
		}
	}
	fakeserver.MarkComplete(w)
}

// padding is Bedrock's "p" field, which hides the length of the content.
func padding(i int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	return letters[:1+(i*7)%len(letters)]
}

// eventStream writes event-stream messages and applies the stream part of
// a Behavior.
type eventStream struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	b      *Behavior
	events int
}

// event writes one event message; it returns false when the stream must
// stop (cut, reset, exception, client gone).
func (st *eventStream) event(typ string, payload []byte) bool {
	return st.write(bedrock.Message{Headers: []bedrock.Header{
		{Name: wire.HeaderEventType, Value: typ},
		{Name: wire.HeaderContentType, Value: "application/json"},
		{Name: wire.HeaderMessageType, Value: wire.MessageTypeEvent},
	}, Payload: payload}, true)
}

// exception writes the scripted exception message.
func (st *eventStream) exception() {
	typ := st.b.ExceptionType
	if typ == "" {
		typ = wire.ExceptionThrottling
	}
	msg := map[string]string{
		wire.ExceptionThrottling:         "Too many requests, please wait before trying again.",
		wire.ExceptionModelStreamError:   "The model encountered an error while streaming.",
		wire.ExceptionValidation:         "The model returned a validation error.",
		wire.ExceptionInternalServer:     "The server encountered an internal error.",
		wire.ExceptionServiceUnavailable: "The service is unavailable. Try again later.",
	}[typ]
	if st.write(bedrock.Message{Headers: []bedrock.Header{
		{Name: wire.HeaderExceptionType, Value: typ},
		{Name: wire.HeaderContentType, Value: "application/json"},
		{Name: wire.HeaderMessageType, Value: wire.MessageTypeException},
	}, Payload: mustJSON(map[string]string{"message": "fake: " + msg})}, false) {
		fakeserver.MarkComplete(st.w)
	}
}

func (st *eventStream) write(m bedrock.Message, scripted bool) bool {
	if scripted {
		if st.events > 0 && st.b.ChunkDelay > 0 && !st.s.Sleep(st.r.Context(), st.b.ChunkDelay) {
			return false
		}
		switch {
		case st.b.CutAfter > 0 && st.events >= st.b.CutAfter:
			return false
		case st.b.ResetAfter > 0 && st.events >= st.b.ResetAfter:
			st.reset()
			return false
		case st.b.ExceptionAfter > 0 && st.events >= st.b.ExceptionAfter:
			st.exception()
			return false
		}
	}
	frame, err := bedrock.AppendMessage(nil, m)
	if err != nil {
		panic(err)
	}
	if _, err := st.w.Write(frame); err != nil {
		return false
	}
	st.events++
	fakeserver.SetEvents(st.w, st.events)
	return http.NewResponseController(st.w).Flush() == nil
}

// reset aborts the connection: a TCP RST through Hijack on HTTP/1,
// otherwise an aborted handler (which resets the HTTP/2 stream).
func (st *eventStream) reset() {
	conn, _, err := http.NewResponseController(st.w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
