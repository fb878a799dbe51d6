package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	api "github.com/sluicehq/sluice/internal/apischema/gemini"
	"github.com/sluicehq/sluice/internal/jsonlimit"
	"github.com/sluicehq/sluice/internal/llm"
)

// DecodeRequest implements llm.ClientCodec. model is the model named in the
// URL path (models/{model}:generateContent); a "models/" prefix is removed.
// The request's Stream is left false: the endpoint, not the body, says
// whether the client streams.
func (ClientCodec) DecodeRequest(body []byte, model string) (*llm.Request, error) {
	var gr api.GenerateContentRequest
	if err := decodeBody(body, &gr); err != nil {
		return nil, err
	}
	if model == "" {
		model = gr.Model // the API takes it from the URL path; accept it here too
	}
	return toCanonical(&gr, model)
}

// DecodeCountTokensRequest parses the body of models/{model}:countTokens:
// {"contents": [...]} or {"generateContentRequest": {...}}. Only what is
// counted is translated (system instruction, contents, tools); generation
// and safety settings are ignored, as they do not change the count.
func DecodeCountTokensRequest(body []byte, model string) (*llm.Request, error) {
	var cr api.CountTokensRequest
	if err := decodeBody(body, &cr); err != nil {
		return nil, err
	}
	gr := cr.GenerateContentRequest
	switch {
	case gr != nil && len(cr.Contents) > 0:
		return nil, llm.Invalid("contents", "set either contents or generateContentRequest, not both")
	case gr == nil:
		gr = &api.GenerateContentRequest{Contents: cr.Contents}
	}
	if model == "" {
		model = gr.Model
	}
	counted := api.GenerateContentRequest{Contents: gr.Contents, SystemInstruction: gr.SystemInstruction, Tools: gr.Tools}
	return toCanonical(&counted, model)
}

// decodeBody decodes a request body strictly into v after rewriting it to
// the wire types' shape (see canonicalize). Unknown fields are rejected, as
// the Gemini API rejects them, rather than dropped.
func decodeBody(body []byte, v any) error {
	// One iterative pass first: parseTree and encoding/json recurse per
	// level.
	switch err := jsonlimit.Check(body, jsonlimit.MaxDepth); {
	case jsonlimit.TooDeep(err):
		return llm.Invalid("", "the request body nests JSON deeper than %d levels", jsonlimit.MaxDepth)
	case err != nil:
		return llm.Invalid("", "the request body is not valid JSON")
	}
	n, ok := parseTree(body)
	if !ok {
		return llm.Invalid("", "the request body is nested too deeply")
	}
	if n.kind != '{' {
		return llm.Invalid("", "the request body must be a JSON object")
	}
	canonicalize(n)
	dec := json.NewDecoder(bytes.NewReader(n.appendJSON(nil)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return llm.Invalid(te.Field, "invalid value: expected %s, got JSON %s", te.Type, te.Value)
		}
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			name = strings.Trim(name, `"`)
			return llm.Unsupported(name, "unknown or untranslatable field %q", name)
		}
		return llm.Invalid("", "invalid request body: %v", err)
	}
	return nil
}

// call is a functionCall seen while decoding a conversation.
type call struct {
	id     string // the canonical id
	name   string
	wireID string // the id the client sent, if any
	used   bool
}

// decoder holds the state of one request decode: the calls seen so far,
// for pairing function responses with them.
type decoder struct {
	calls  []*call
	recent []*call // the calls of the latest model turn
}

func toCanonical(gr *api.GenerateContentRequest, model string) (*llm.Request, error) {
	model = strings.TrimPrefix(model, "models/")
	if model == "" {
		return nil, llm.Invalid("model", "no model named in the URL path")
	}
	req := &llm.Request{Model: model, Messages: []llm.Message{}, IncludeUsage: true}
	switch {
	case len(gr.SafetySettings) > 0:
		return nil, llm.Unsupported("safetySettings", "safety settings cannot be translated to the upstream's protocol")
	case gr.CachedContent != "":
		return nil, llm.Unsupported("cachedContent", "cached content cannot be translated to the upstream's protocol")
	case len(gr.Labels) > 0:
		return nil, llm.Unsupported("labels", "labels cannot be translated to the upstream's protocol")
	}
	if si := gr.SystemInstruction; si != nil {
		for i, p := range si.Parts {
			path := fmt.Sprintf("systemInstruction.parts[%d]", i)
			if p.Text == nil || p.InlineData != nil || p.FileData != nil || p.FunctionCall != nil || p.FunctionResponse != nil || p.Thought {
				return nil, llm.Unsupported(path, "only text can be translated in a system instruction")
			}
			if *p.Text != "" {
				req.System = append(req.System, llm.Part{Type: llm.PartText, Text: *p.Text})
			}
		}
	}
	if len(gr.Contents) == 0 {
		return nil, llm.Invalid("contents", "contents is not specified")
	}
	d := &decoder{}
	for ci, c := range gr.Contents {
		msg, err := d.content(c, fmt.Sprintf("contents[%d]", ci))
		if err != nil {
			return nil, err
		}
		if len(msg.Content) > 0 { // a turn of empty texts says nothing
			req.Messages = append(req.Messages, msg)
		}
	}
	if len(req.Messages) == 0 {
		return nil, llm.Invalid("contents", "the contents hold nothing but empty text")
	}
	if err := decodeTools(gr, req); err != nil {
		return nil, err
	}
	if err := decodeGenerationConfig(gr.GenerationConfig, req); err != nil {
		return nil, err
	}
	return req, nil
}

func (d *decoder) content(c api.Content, path string) (llm.Message, error) {
	var msg llm.Message
	switch c.Role {
	case api.RoleUser, "", api.RoleFunction:
		msg.Role = llm.RoleUser
	case api.RoleModel:
		msg.Role = llm.RoleAssistant
		d.recent = nil
	default:
		return msg, llm.Invalid(path+".role", "unknown role %q: want user or model", c.Role)
	}
	msg.Content = []llm.Part{}
	for pi, p := range c.Parts {
		var err error
		msg.Content, err = d.part(msg.Content, p, msg.Role, fmt.Sprintf("%s.parts[%d]", path, pi))
		if err != nil {
			return msg, err
		}
	}
	return msg, nil
}

// unsupportedPartField names the first untranslatable field of p.
func unsupportedPartField(p *api.Part) string {
	switch {
	case len(p.ExecutableCode) > 0:
		return "executableCode"
	case len(p.CodeExecutionResult) > 0:
		return "codeExecutionResult"
	case len(p.ToolCall) > 0:
		return "toolCall"
	case len(p.ToolResponse) > 0:
		return "toolResponse"
	case len(p.VideoMetadata) > 0:
		return "videoMetadata"
	case len(p.SpeechMetadata) > 0:
		return "speechMetadata"
	}
	return ""
}

// part appends the canonical form of p to out. Consecutive thought parts
// are joined into one thinking part, up to and including the first that
// carries a signature, as a streamed thought arrives in pieces (and a
// Gemini client may keep each piece as a part).
func (d *decoder) part(out []llm.Part, p api.Part, role llm.Role, path string) ([]llm.Part, error) {
	if f := unsupportedPartField(&p); f != "" {
		return nil, llm.Unsupported(path+"."+f, "%s cannot be translated to the upstream's protocol", f)
	}
	if p.Thought || p.ThoughtSignature != "" {
		if role != llm.RoleAssistant {
			return nil, llm.Invalid(path, "thoughts and thought signatures belong to model turns")
		}
		if p.Thought {
			if p.InlineData != nil || p.FileData != nil || p.FunctionCall != nil || p.FunctionResponse != nil {
				return nil, llm.Invalid(path+".thought", "only a text part can be a thought")
			}
			text := ""
			if p.Text != nil {
				text = *p.Text
			}
			if text == "" && p.ThoughtSignature == "" {
				return out, nil
			}
			if n := len(out); n > 0 && out[n-1].Type == llm.PartThinking && out[n-1].Text != "" && out[n-1].Signature == "" {
				out[n-1].Text += text
				out[n-1].Signature = p.ThoughtSignature
				return out, nil
			}
			return append(out, llm.Part{Type: llm.PartThinking, Text: text, Signature: p.ThoughtSignature}), nil
		}
		out = append(out, llm.Part{Type: llm.PartThinking, Signature: p.ThoughtSignature})
	}
	switch {
	case p.Text != nil:
		if *p.Text != "" {
			out = append(out, llm.Part{Type: llm.PartText, Text: *p.Text})
		}
	case p.InlineData != nil:
		img, err := inlineImage(p.InlineData, path+".inlineData")
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	case p.FileData != nil:
		img, err := fileImage(p.FileData, path+".fileData")
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	case p.FunctionCall != nil:
		if role != llm.RoleAssistant {
			return nil, llm.Invalid(path+".functionCall", "function calls belong to model turns")
		}
		tc, err := d.functionCall(p.FunctionCall, path+".functionCall")
		if err != nil {
			return nil, err
		}
		out = append(out, tc)
	case p.FunctionResponse != nil:
		if role != llm.RoleUser {
			return nil, llm.Invalid(path+".functionResponse", "function responses belong to user turns")
		}
		tr, err := d.functionResponse(p.FunctionResponse, path+".functionResponse")
		if err != nil {
			return nil, err
		}
		out = append(out, tr)
	default:
		if p.ThoughtSignature == "" {
			return nil, llm.Invalid(path, "the part has no data")
		}
	}
	return out, nil
}

func inlineImage(b *api.Blob, path string) (llm.Part, error) {
	if !strings.HasPrefix(b.MimeType, "image/") {
		return llm.Part{}, llm.Unsupported(path+".mimeType", "only images can be translated, not %q", b.MimeType)
	}
	if b.Data == "" {
		return llm.Part{}, llm.Invalid(path+".data", "the image has no data")
	}
	return llm.Part{Type: llm.PartImage, MediaType: b.MimeType, Data: b.Data}, nil
}

// fileImage maps fileData to an image URL part. Its MediaType is set too
// (the URI of an uploaded file has no extension to tell it).
func fileImage(f *api.FileData, path string) (llm.Part, error) {
	if f.MimeType != "" && !strings.HasPrefix(f.MimeType, "image/") {
		return llm.Part{}, llm.Unsupported(path+".mimeType", "only images can be translated, not %q", f.MimeType)
	}
	if f.FileURI == "" {
		return llm.Part{}, llm.Invalid(path+".fileUri", "the file has no URI")
	}
	return llm.Part{Type: llm.PartImage, URL: f.FileURI, MediaType: f.MimeType}, nil
}

// callID is the canonical id of the n-th function call, from 0, of a
// conversation or response. Characters other than [A-Za-z0-9_-] (function
// names may hold '.' and ':') become '_', as Anthropic's ids allow no more.
func callID(prefix string, n int, name string) string {
	var b strings.Builder
	b.WriteString("call_")
	if prefix != "" {
		writeIDSafe(&b, prefix)
		b.WriteByte('_')
	}
	fmt.Fprintf(&b, "%d_", n)
	writeIDSafe(&b, name)
	return b.String()
}

func writeIDSafe(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
}

// objectArgs returns args as a compact JSON object: "{}" when absent, the
// object inside a JSON string that holds one; false when args are not a
// JSON object.
func objectArgs(args json.RawMessage) (json.RawMessage, bool) {
	t := bytes.TrimSpace(args)
	if len(t) == 0 || string(t) == "null" {
		return json.RawMessage("{}"), true
	}
	if t[0] == '"' {
		// A JSON string holding the object, as OpenAI's wire form has it.
		var inner string
		if json.Unmarshal(t, &inner) != nil {
			return nil, false
		}
		t = bytes.TrimSpace([]byte(inner))
		if len(t) == 0 {
			return json.RawMessage("{}"), true
		}
	}
	if t[0] != '{' {
		return nil, false
	}
	var buf bytes.Buffer
	if json.Compact(&buf, t) != nil {
		return nil, false
	}
	return json.RawMessage(buf.Bytes()), true
}

func (d *decoder) functionCall(fc *api.FunctionCall, path string) (llm.Part, error) {
	if fc.Name == "" {
		return llm.Part{}, llm.Invalid(path+".name", "the function call has no name")
	}
	if len(fc.PartialArgs) > 0 || fc.WillContinue != nil {
		return llm.Part{}, llm.Unsupported(path+".partialArgs", "streamed function arguments cannot be translated")
	}
	args, ok := objectArgs(fc.Args)
	if !ok {
		return llm.Part{}, llm.Invalid(path+".args", "the arguments must be a JSON object")
	}
	c := &call{id: callID("", len(d.calls), fc.Name), name: fc.Name, wireID: fc.ID}
	d.calls = append(d.calls, c)
	d.recent = append(d.recent, c)
	return llm.Part{Type: llm.PartToolCall, ToolCallID: c.id, ToolName: fc.Name, Arguments: args}, nil
}

// match finds the call a function response answers: by the id the client
// sent, else the first unanswered call of that name in the latest model
// turn, else the latest unanswered call of that name, else the latest call
// of that name.
func (d *decoder) match(fr *api.FunctionResponse) *call {
	if fr.ID != "" {
		for _, c := range d.calls {
			if c.wireID == fr.ID && c.name == fr.Name {
				return c
			}
		}
	}
	for _, c := range d.recent {
		if !c.used && c.name == fr.Name {
			return c
		}
	}
	for i := len(d.calls) - 1; i >= 0; i-- {
		if c := d.calls[i]; !c.used && c.name == fr.Name {
			return c
		}
	}
	for i := len(d.calls) - 1; i >= 0; i-- {
		if c := d.calls[i]; c.name == fr.Name {
			return c
		}
	}
	return nil
}

func (d *decoder) functionResponse(fr *api.FunctionResponse, path string) (llm.Part, error) {
	if fr.Name == "" {
		return llm.Part{}, llm.Invalid(path+".name", "the function response has no name")
	}
	if fr.WillContinue != nil || len(fr.Scheduling) > 0 {
		return llm.Part{}, llm.Unsupported(path+".willContinue", "non-blocking function responses cannot be translated")
	}
	c := d.match(fr)
	if c == nil {
		return llm.Part{}, llm.Invalid(path+".name", "no earlier functionCall named %q", fr.Name)
	}
	c.used = true
	out := llm.Part{Type: llm.PartToolResult, ToolCallID: c.id, ToolName: fr.Name}
	text, isErr, err := responseText(fr.Response, path+".response")
	if err != nil {
		return llm.Part{}, err
	}
	out.IsError = isErr
	if text != "" {
		out.Content = append(out.Content, llm.Part{Type: llm.PartText, Text: text})
	}
	for i, p := range fr.Parts {
		ppath := fmt.Sprintf("%s.parts[%d]", path, i)
		var img llm.Part
		switch {
		case p.InlineData != nil:
			img, err = inlineImage(p.InlineData, ppath+".inlineData")
		case p.FileData != nil:
			img, err = fileImage(p.FileData, ppath+".fileData")
		default:
			err = llm.Invalid(ppath, "the part has no data")
		}
		if err != nil {
			return llm.Part{}, err
		}
		out.Content = append(out.Content, img)
	}
	return out, nil
}

// responseText is the canonical text of a functionResponse.response: the
// string of {"output": "..."} or {"error": ...} (which marks an error), and
// the object itself otherwise.
func responseText(resp json.RawMessage, path string) (string, bool, error) {
	t := bytes.TrimSpace(resp)
	if len(t) == 0 || string(t) == "null" {
		return "", false, nil
	}
	if t[0] != '{' {
		return "", false, llm.Invalid(path, "the response must be a JSON object")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(t, &obj); err != nil {
		return "", false, llm.Invalid(path, "the response must be a JSON object")
	}
	if len(obj) == 1 {
		if v, ok := obj["error"]; ok {
			var s string
			if json.Unmarshal(v, &s) == nil {
				return s, true, nil
			}
			return string(v), true, nil
		}
		if v, ok := obj["output"]; ok {
			var s string
			if json.Unmarshal(v, &s) == nil {
				return s, false, nil
			}
		}
	}
	return string(t), false, nil
}

func decodeTools(gr *api.GenerateContentRequest, req *llm.Request) error {
	for ti, t := range gr.Tools {
		path := fmt.Sprintf("tools[%d]", ti)
		if f := unsupportedTool(&t); f != "" {
			return llm.Unsupported(path+"."+f, "the built-in tool %s cannot be translated to the upstream's protocol", f)
		}
		for fi, fd := range t.FunctionDeclarations {
			fpath := fmt.Sprintf("%s.functionDeclarations[%d]", path, fi)
			switch {
			case fd.Name == "":
				return llm.Invalid(fpath+".name", "the function has no name")
			case len(fd.Response) > 0 || len(fd.ResponseJSONSchema) > 0:
				return llm.Unsupported(fpath+".response", "function response schemas cannot be translated")
			case fd.Behavior != "" && fd.Behavior != "BLOCKING":
				return llm.Unsupported(fpath+".behavior", "non-blocking functions cannot be translated")
			case len(fd.Parameters) > 0 && len(fd.ParametersJSONSchema) > 0:
				return llm.Invalid(fpath+".parametersJsonSchema", "set either parameters or parametersJsonSchema, not both")
			}
			tool := llm.Tool{Name: fd.Name, Description: fd.Description}
			switch {
			case len(fd.ParametersJSONSchema) > 0:
				tool.Parameters = fd.ParametersJSONSchema
			case len(fd.Parameters) > 0:
				tool.Parameters = openAPIToJSONSchema(fd.Parameters)
			}
			req.Tools = append(req.Tools, tool)
		}
	}
	tc := gr.ToolConfig
	if tc == nil {
		return nil
	}
	switch {
	case len(tc.RetrievalConfig) > 0:
		return llm.Unsupported("toolConfig.retrievalConfig", "retrieval settings cannot be translated to the upstream's protocol")
	case tc.IncludeServerSideToolInvocations != nil && *tc.IncludeServerSideToolInvocations:
		return llm.Unsupported("toolConfig.includeServerSideToolInvocations", "server-side tools cannot be translated to the upstream's protocol")
	}
	fc := tc.FunctionCallingConfig
	if fc == nil || len(req.Tools) == 0 {
		return nil // with no function, there is no choice to make
	}
	const path = "toolConfig.functionCallingConfig"
	if fc.StreamFunctionCallArguments != nil && *fc.StreamFunctionCallArguments {
		return llm.Unsupported(path+".streamFunctionCallArguments", "streamed function arguments cannot be translated")
	}
	names := fc.AllowedFunctionNames
	all := coversAll(names, req.Tools)
	switch fc.Mode {
	case "", api.ModeUnspecified, api.ModeAuto, api.ModeValidated:
		if len(names) > 0 && !all {
			return llm.Unsupported(path+".allowedFunctionNames", "a subset of allowed functions can only be translated with mode ANY and one name")
		}
		if fc.Mode == "" || fc.Mode == api.ModeUnspecified {
			return nil
		}
		req.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceAuto}
		if fc.Mode == api.ModeValidated {
			for i := range req.Tools {
				req.Tools[i].Strict = true
			}
		}
	case api.ModeAny:
		switch {
		case len(names) == 1:
			req.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: names[0]}
		case len(names) == 0 || all:
			req.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceRequired}
		default:
			return llm.Unsupported(path+".allowedFunctionNames", "a subset of allowed functions can only be translated with one name")
		}
	case api.ModeNone:
		req.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceNone}
	default:
		return llm.Invalid(path+".mode", "unknown mode %q", fc.Mode)
	}
	return nil
}

// coversAll reports whether names allows every declared tool.
func coversAll(names []string, tools []llm.Tool) bool {
	if len(names) == 0 {
		return true
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	for _, t := range tools {
		if !set[t.Name] {
			return false
		}
	}
	return len(tools) > 0
}

func unsupportedTool(t *api.Tool) string {
	switch {
	case len(t.GoogleSearch) > 0:
		return "googleSearch"
	case len(t.GoogleSearchRetrieval) > 0:
		return "googleSearchRetrieval"
	case len(t.CodeExecution) > 0:
		return "codeExecution"
	case len(t.URLContext) > 0:
		return "urlContext"
	case len(t.FileSearch) > 0:
		return "fileSearch"
	case len(t.GoogleMaps) > 0:
		return "googleMaps"
	case len(t.ComputerUse) > 0:
		return "computerUse"
	case len(t.Retrieval) > 0:
		return "retrieval"
	case len(t.EnterpriseWebSearch) > 0:
		return "enterpriseWebSearch"
	case len(t.MCPServers) > 0:
		return "mcpServers"
	}
	return ""
}

func decodeGenerationConfig(gc *api.GenerationConfig, req *llm.Request) error {
	if gc == nil {
		return nil
	}
	const path = "generationConfig"
	switch {
	case gc.CandidateCount != nil && *gc.CandidateCount > 1:
		return llm.Unsupported(path+".candidateCount", "more than one candidate cannot be translated to the upstream's protocol")
	case gc.ResponseLogprobs != nil && *gc.ResponseLogprobs || gc.Logprobs != nil:
		return llm.Unsupported(path+".responseLogprobs", "log probabilities cannot be translated to the upstream's protocol")
	case len(gc.SpeechConfig) > 0:
		return llm.Unsupported(path+".speechConfig", "speech output cannot be translated to the upstream's protocol")
	case len(gc.ImageConfig) > 0:
		return llm.Unsupported(path+".imageConfig", "image output cannot be translated to the upstream's protocol")
	case gc.MediaResolution != "":
		return llm.Unsupported(path+".mediaResolution", "media resolution cannot be translated to the upstream's protocol")
	case len(gc.RoutingConfig) > 0:
		return llm.Unsupported(path+".routingConfig", "routing settings cannot be translated to the upstream's protocol")
	case len(gc.ModelSelectionConfig) > 0:
		return llm.Unsupported(path+".modelSelectionConfig", "model selection settings cannot be translated to the upstream's protocol")
	case gc.AudioTimestamp != nil && *gc.AudioTimestamp:
		return llm.Unsupported(path+".audioTimestamp", "audio timestamps cannot be translated to the upstream's protocol")
	case gc.EnableAffectiveDialog != nil && *gc.EnableAffectiveDialog:
		return llm.Unsupported(path+".enableAffectiveDialog", "affective dialog cannot be translated to the upstream's protocol")
	case gc.EnableEnhancedCivicAnswers != nil && *gc.EnableEnhancedCivicAnswers:
		return llm.Unsupported(path+".enableEnhancedCivicAnswers", "enhanced civic answers cannot be translated to the upstream's protocol")
	}
	for _, m := range gc.ResponseModalities {
		if !strings.EqualFold(m, "TEXT") {
			return llm.Unsupported(path+".responseModalities", "only text output can be translated, not %q", m)
		}
	}
	if gc.MaxOutputTokens != nil && *gc.MaxOutputTokens > 0 {
		req.MaxTokens = *gc.MaxOutputTokens
	}
	req.Temperature = gc.Temperature
	req.TopP = gc.TopP
	if gc.TopK != nil {
		k := *gc.TopK
		if k != math.Trunc(k) || k < 0 || k > math.MaxInt32 {
			return llm.Invalid(path+".topK", "topK must be a non-negative integer")
		}
		n := int(k)
		req.TopK = &n
	}
	req.Stop = gc.StopSequences
	req.Seed = gc.Seed
	req.PresencePenalty = gc.PresencePenalty
	req.FrequencyPenalty = gc.FrequencyPenalty

	switch gc.ResponseMimeType {
	case "", "text/plain":
		if len(gc.ResponseSchema) > 0 || len(gc.ResponseJSONSchema) > 0 {
			return llm.Invalid(path+".responseMimeType", "a response schema needs responseMimeType application/json")
		}
	case "application/json":
		switch {
		case len(gc.ResponseSchema) > 0 && len(gc.ResponseJSONSchema) > 0:
			return llm.Invalid(path+".responseJsonSchema", "set either responseSchema or responseJsonSchema, not both")
		case len(gc.ResponseJSONSchema) > 0:
			req.ResponseFormat = &llm.ResponseFormat{Type: "json_schema", Name: "response", Schema: gc.ResponseJSONSchema}
		case len(gc.ResponseSchema) > 0:
			req.ResponseFormat = &llm.ResponseFormat{Type: "json_schema", Name: "response", Schema: openAPIToJSONSchema(gc.ResponseSchema)}
		default:
			req.ResponseFormat = &llm.ResponseFormat{Type: "json_object"}
		}
	default:
		return llm.Unsupported(path+".responseMimeType", "only text/plain and application/json can be translated, not %q", gc.ResponseMimeType)
	}

	if tc := gc.ThinkingConfig; tc != nil {
		var t llm.Thinking
		set := tc.IncludeThoughts
		if b := tc.ThinkingBudget; b != nil {
			set = true
			switch {
			case *b == 0:
				t.Disabled = true
			case *b > 0:
				t.BudgetTokens = *b
			case *b != -1:
				return llm.Invalid(path+".thinkingConfig.thinkingBudget", "the budget must be -1 (dynamic), 0 (off) or positive")
			}
		}
		if tc.ThinkingLevel != "" && tc.ThinkingLevel != "THINKING_LEVEL_UNSPECIFIED" {
			switch lv := strings.ToLower(tc.ThinkingLevel); lv {
			case "minimal", "low", "medium", "high":
				t.Effort = lv
				set = true
			default:
				return llm.Invalid(path+".thinkingConfig.thinkingLevel", "unknown thinking level %q", tc.ThinkingLevel)
			}
		}
		if set {
			req.Thinking = &t
		}
	}
	return nil
}
