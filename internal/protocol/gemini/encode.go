package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"

	api "github.com/sluicehq/sluice/internal/apischema/gemini"
	"github.com/sluicehq/sluice/internal/llm"
)

// EncodeRequest implements llm.UpstreamCodec. The model goes in the URL
// path (the adapter's business), not the body; it is used here only to
// choose between thinkingLevel (Gemini 3 and later) and thinkingBudget.
func (UpstreamCodec) EncodeRequest(req *llm.Request, model string) ([]byte, error) {
	gr, err := fromCanonical(req, model)
	if err != nil {
		return nil, err
	}
	return marshal(gr)
}

// EncodeCountTokensRequest renders req as the body of
// models/{model}:countTokens: {"generateContentRequest": {...}} with what
// is counted (system instruction, contents, tools).
func EncodeCountTokensRequest(req *llm.Request, model string) ([]byte, error) {
	counted := llm.Request{Model: req.Model, System: req.System, Messages: req.Messages, Tools: req.Tools}
	gr, err := fromCanonical(&counted, model)
	if err != nil {
		return nil, err
	}
	gr.Model = "models/" + strings.TrimPrefix(model, "models/")
	return marshal(api.CountTokensRequest{GenerateContentRequest: gr})
}

func fromCanonical(req *llm.Request, model string) (*api.GenerateContentRequest, error) {
	if req == nil {
		return nil, llm.Invalid("", "no request")
	}
	gr := &api.GenerateContentRequest{Contents: []api.Content{}}
	if len(req.System) > 0 {
		si := &api.Content{}
		for i, p := range req.System {
			if p.Type != llm.PartText {
				return nil, llm.Unsupported(fmt.Sprintf("system[%d]", i), "only text can be sent as a Gemini system instruction")
			}
			if p.Text != "" {
				si.Parts = append(si.Parts, textPart(p.Text))
			}
		}
		if len(si.Parts) > 0 {
			gr.SystemInstruction = si
		}
	}
	names := toolCalls{}
	for mi, m := range req.Messages {
		mpath := fmt.Sprintf("messages[%d]", mi)
		var role string
		switch m.Role {
		case llm.RoleUser:
			role = api.RoleUser
		case llm.RoleAssistant:
			role = api.RoleModel
		default:
			return nil, llm.Invalid(mpath+".role", "unknown role %q", m.Role)
		}
		parts, err := encodeParts(m.Content, m.Role, mpath+".content", names, false)
		if err != nil {
			return nil, err
		}
		if len(parts) == 0 {
			continue
		}
		if role == api.RoleModel && usesThinkingLevel(model) {
			signFirstCall(parts)
		}
		gr.Contents = append(gr.Contents, api.Content{Role: role, Parts: parts})
	}
	if err := encodeTools(req, gr); err != nil {
		return nil, err
	}
	gc, err := encodeGenerationConfig(req, model)
	if err != nil {
		return nil, err
	}
	gr.GenerationConfig = gc
	return gr, nil
}

func textPart(s string) api.Part { return api.Part{Text: &s} }

// SkipSignature is the thought signature Google documents for function
// calls that Gemini did not sign (made by another model, or whose
// signature a client of another protocol could not keep): Gemini 3 rejects
// a turn whose first function call has no signature.
const SkipSignature = "skip_thought_signature_validator"

// signFirstCall gives the first function call of a model turn the
// SkipSignature when it has no signature of its own.
func signFirstCall(parts []api.Part) {
	for i := range parts {
		if parts[i].FunctionCall != nil {
			if parts[i].ThoughtSignature == "" {
				parts[i].ThoughtSignature = SkipSignature
			}
			return
		}
	}
}

// toolCalls maps the ids of the tool calls of a conversation to their
// names and order.
type toolCalls map[string]toolCallRef

type toolCallRef struct {
	name string
	pos  int
}

// encodeParts renders the parts of one message. names is filled by tool
// calls and read by tool results. Thinking follows the package's signature
// rules; redacted thinking, which only its issuer can read, is left out.
//
// Gemini pairs function responses with calls by name and order, so the
// responses to calls of the same function are put in the order of the
// calls (other parts keep their places): results given out of order would
// otherwise be swapped.
//
// In an answer (answer true), tool call arguments that are not a JSON
// object (a model's output cut by max tokens) are sent as {}, as the
// stream writer does, rather than failing the whole answer.
func encodeParts(content []llm.Part, role llm.Role, ppath string, names toolCalls, answer bool) ([]api.Part, error) {
	var out []api.Part
	type slot struct{ at, pos int }
	var results []slot
	pending := "" // a signature waiting for the next part
	flush := func() {
		if pending != "" {
			p := textPart("")
			p.ThoughtSignature = pending
			out = append(out, p)
			pending = ""
		}
	}
	add := func(p api.Part) {
		p.ThoughtSignature = pending
		pending = ""
		out = append(out, p)
	}
	for i, p := range content {
		path := fmt.Sprintf("%s[%d]", ppath, i)
		switch p.Type {
		case llm.PartText:
			if p.Text != "" || pending != "" {
				add(textPart(p.Text))
			}
		case llm.PartImage:
			gp, err := imagePart(p, path)
			if err != nil {
				return nil, err
			}
			add(gp)
		case llm.PartToolCall:
			if role != llm.RoleAssistant {
				return nil, llm.Invalid(path, "tool calls belong to assistant messages")
			}
			if p.ToolName == "" && !answer {
				return nil, llm.Invalid(path+".tool_name", "the tool call has no name")
			}
			args, ok := objectArgs(p.Arguments)
			switch {
			case !ok && answer:
				args = json.RawMessage("{}")
			case !ok:
				return nil, llm.Invalid(path+".arguments", "the tool call's arguments are not a JSON object")
			}
			names[p.ToolCallID] = toolCallRef{name: p.ToolName, pos: len(names)}
			if pending == "" {
				// Not the canonical place of a Gemini signature, but take one
				// that a codec put on the call itself.
				pending = p.Signature
			}
			add(api.Part{FunctionCall: &api.FunctionCall{Name: p.ToolName, Args: args}})
		case llm.PartToolResult:
			if role != llm.RoleUser {
				return nil, llm.Invalid(path, "tool results belong to user messages")
			}
			fr, err := functionResponse(p, path, names)
			if err != nil {
				return nil, err
			}
			pos := math.MaxInt
			if ref, ok := names[p.ToolCallID]; ok {
				pos = ref.pos
			}
			results = append(results, slot{at: len(out), pos: pos})
			add(api.Part{FunctionResponse: fr})
		case llm.PartThinking:
			if role != llm.RoleAssistant {
				continue
			}
			switch {
			case p.Text != "":
				flush()
				gp := textPart(p.Text)
				gp.Thought = true
				gp.ThoughtSignature = p.Signature
				out = append(out, gp)
			case p.Signature != "":
				flush()
				pending = p.Signature
			}
		case llm.PartRedactedThinking:
		default:
			return nil, llm.Invalid(path+".type", "unknown part type %q", p.Type)
		}
	}
	flush()
	// Responses to calls of the same function go in the order of the calls.
	byName := map[string][]slot{}
	for _, r := range results {
		n := out[r.at].FunctionResponse.Name
		byName[n] = append(byName[n], r)
	}
	for _, group := range byName {
		sorted := append([]slot(nil), group...)
		sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].pos < sorted[j].pos })
		parts := make([]api.Part, len(sorted))
		for i, s := range sorted {
			parts[i] = out[s.at]
		}
		for i, s := range group {
			out[s.at] = parts[i]
		}
	}
	return out, nil
}

// imagePart renders an image: inline data for base64 and data: URLs,
// fileData for other URLs.
func imagePart(p llm.Part, path string) (api.Part, error) {
	switch {
	case p.Data != "":
		mt := p.MediaType
		if mt == "" {
			return api.Part{}, llm.Invalid(path+".media_type", "the image has no media type")
		}
		return api.Part{InlineData: &api.Blob{MimeType: mt, Data: p.Data}}, nil
	case strings.HasPrefix(p.URL, "data:"):
		mt, data, ok := parseDataURL(p.URL)
		if !ok {
			return api.Part{}, llm.Invalid(path+".url", "only base64 data: URLs can be sent to Gemini")
		}
		return api.Part{InlineData: &api.Blob{MimeType: mt, Data: data}}, nil
	case p.URL != "":
		mt := p.MediaType
		if mt == "" {
			mt = guessImageType(p.URL)
		}
		return api.Part{FileData: &api.FileData{MimeType: mt, FileURI: p.URL}}, nil
	}
	return api.Part{}, llm.Invalid(path, "the image has neither data nor a URL")
}

// parseDataURL splits "data:<type>;base64,<data>".
func parseDataURL(u string) (mediaType, data string, ok bool) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return "", "", false
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return "", "", false
	}
	mt, enc, _ := strings.Cut(meta, ";")
	if !strings.EqualFold(enc, "base64") || mt == "" {
		return "", "", false
	}
	return mt, data, true
}

// guessImageType guesses an image's media type from its URL's extension;
// Gemini needs one for fileData.
func guessImageType(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	switch strings.ToLower(path.Ext(u)) {
	case ".png":
		return "image/png"
	case ".gif":
		return "image/gif"
	case ".webp":
		return "image/webp"
	case ".heic":
		return "image/heic"
	case ".heif":
		return "image/heif"
	}
	return "image/jpeg"
}

// functionResponse renders a tool result. Its name is that of the earlier
// tool call with the same id. A text that is a JSON object is the response
// itself; other text is {"output": text}, or {"error": text} for an error.
func functionResponse(p llm.Part, path string, names toolCalls) (*api.FunctionResponse, error) {
	name := names[p.ToolCallID].name
	if name == "" {
		name = p.ToolName
	}
	if name == "" {
		return nil, llm.Invalid(path+".tool_call_id", "no earlier tool call has the id %q", p.ToolCallID)
	}
	fr := &api.FunctionResponse{Name: name}
	var texts []string
	for i, c := range p.Content {
		switch c.Type {
		case llm.PartText:
			texts = append(texts, c.Text)
		case llm.PartImage:
			img, err := imagePart(c, fmt.Sprintf("%s.content[%d]", path, i))
			if err != nil {
				return nil, err
			}
			fr.Parts = append(fr.Parts, api.FunctionResponsePart{InlineData: img.InlineData, FileData: img.FileData})
		default:
			return nil, llm.Unsupported(fmt.Sprintf("%s.content[%d]", path, i), "a tool result can only hold text and images")
		}
	}
	text := strings.Join(texts, "\n")
	trimmed := bytes.TrimSpace([]byte(text))
	switch {
	case p.IsError:
		v := json.RawMessage(nil)
		if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(trimmed) {
			v = trimmed
		} else {
			v, _ = marshal(text)
		}
		fr.Response, _ = marshal(map[string]json.RawMessage{"error": v})
	case len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed):
		fr.Response = json.RawMessage(trimmed)
	default:
		v, _ := marshal(text)
		fr.Response, _ = marshal(map[string]json.RawMessage{"output": v})
	}
	return fr, nil
}

func encodeTools(req *llm.Request, gr *api.GenerateContentRequest) error {
	if len(req.Tools) > 0 {
		var decls []api.FunctionDeclaration
		for i, t := range req.Tools {
			if t.Name == "" {
				return llm.Invalid(fmt.Sprintf("tools[%d].name", i), "the tool has no name")
			}
			fd := api.FunctionDeclaration{Name: t.Name, Description: t.Description}
			if len(bytes.TrimSpace(t.Parameters)) > 0 && string(bytes.TrimSpace(t.Parameters)) != "null" {
				fd.ParametersJSONSchema = t.Parameters
			}
			decls = append(decls, fd)
		}
		gr.Tools = []api.Tool{{FunctionDeclarations: decls}}
	}
	if req.ParallelToolCalls != nil && !*req.ParallelToolCalls {
		return llm.Unsupported("parallel_tool_calls", "Gemini cannot be told to make at most one tool call")
	}
	tc := req.ToolChoice
	if tc == nil {
		return nil
	}
	fc := &api.FunctionCallingConfig{}
	switch tc.Mode {
	case llm.ToolChoiceAuto, "":
		fc.Mode = api.ModeAuto
	case llm.ToolChoiceNone:
		fc.Mode = api.ModeNone
	case llm.ToolChoiceRequired:
		fc.Mode = api.ModeAny
	case llm.ToolChoiceTool:
		if tc.Name == "" {
			return llm.Invalid("tool_choice.name", "no tool named")
		}
		fc.Mode = api.ModeAny
		fc.AllowedFunctionNames = []string{tc.Name}
	default:
		return llm.Invalid("tool_choice.mode", "unknown tool choice %q", tc.Mode)
	}
	gr.ToolConfig = &api.ToolConfig{FunctionCallingConfig: fc}
	return nil
}

// legacyBudgets are the thinking budgets that stand for an effort on
// models before Gemini 3, which have no thinkingLevel.
var legacyBudgets = map[string]int{"minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768}

// usesThinkingLevel reports whether model takes thinkingLevel: Gemini 3 and
// later. Others (and names Sluice cannot tell) take thinkingBudget.
func usesThinkingLevel(model string) bool {
	m := strings.ToLower(model)
	i := strings.Index(m, "gemini-")
	if i < 0 {
		return false
	}
	m = m[i+len("gemini-"):]
	end := 0
	for end < len(m) && m[end] >= '0' && m[end] <= '9' {
		end++
	}
	major, err := strconv.Atoi(m[:end])
	return err == nil && major >= 3
}

func encodeGenerationConfig(req *llm.Request, model string) (*api.GenerationConfig, error) {
	gc := &api.GenerationConfig{}
	set := false
	if req.MaxTokens > 0 {
		n := req.MaxTokens
		gc.MaxOutputTokens, set = &n, true
	}
	if req.Temperature != nil {
		gc.Temperature, set = req.Temperature, true
	}
	if req.TopP != nil {
		gc.TopP, set = req.TopP, true
	}
	if req.TopK != nil {
		k := float64(*req.TopK)
		gc.TopK, set = &k, true
	}
	if len(req.Stop) > 0 {
		gc.StopSequences, set = req.Stop, true
	}
	if req.Seed != nil {
		if *req.Seed < math.MinInt32 || *req.Seed > math.MaxInt32 {
			return nil, llm.Invalid("seed", "Gemini takes a 32-bit seed")
		}
		gc.Seed, set = req.Seed, true
	}
	if req.PresencePenalty != nil {
		gc.PresencePenalty, set = req.PresencePenalty, true
	}
	if req.FrequencyPenalty != nil {
		gc.FrequencyPenalty, set = req.FrequencyPenalty, true
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_object":
			gc.ResponseMimeType, set = "application/json", true
		case "json_schema":
			gc.ResponseMimeType, set = "application/json", true
			if len(rf.Schema) > 0 {
				gc.ResponseJSONSchema = rf.Schema
			}
		default:
			return nil, llm.Unsupported("response_format.type", "unknown response format %q", rf.Type)
		}
	}
	if t := req.Thinking; t != nil {
		tc := &api.ThinkingConfig{}
		switch {
		case t.Disabled || t.Effort == "none":
			zero := 0
			tc.ThinkingBudget = &zero
		case t.BudgetTokens > 0:
			b := t.BudgetTokens
			tc.ThinkingBudget, tc.IncludeThoughts = &b, true
		case t.Effort != "":
			budget, ok := legacyBudgets[t.Effort]
			if !ok {
				return nil, llm.Unsupported("thinking.effort", "unknown reasoning effort %q", t.Effort)
			}
			if usesThinkingLevel(model) {
				level := strings.ToUpper(t.Effort)
				if level == "XHIGH" {
					level = "HIGH"
				}
				tc.ThinkingLevel = level
			} else {
				tc.ThinkingBudget = &budget
			}
			tc.IncludeThoughts = true
		default:
			dynamic := -1
			tc.ThinkingBudget, tc.IncludeThoughts = &dynamic, true
		}
		gc.ThinkingConfig, set = tc, true
	}
	if !set {
		return nil, nil
	}
	return gc, nil
}
