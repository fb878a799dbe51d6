package geminifake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// The fake checks requests on their raw JSON, independently of the
// gateway's wire types, the way the real API does where a translating
// gateway could get them wrong.

// obj is a JSON object decoded with numbers kept as json.Number.
type obj = map[string]any

func parseBody(body []byte) (obj, *apiError) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badRequest("Invalid JSON payload received. Unexpected token.")
	}
	if dec.More() {
		return nil, badRequest("Invalid JSON payload received. Unexpected token.")
	}
	o, ok := v.(obj)
	if !ok {
		return nil, badRequest("Invalid JSON payload received. Expected an object.")
	}
	return o, nil
}

// snake turns a lowerCamel field name into the snake_case name Google
// uses in error paths.
func snake(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			b.WriteByte('_')
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// camel turns a snake_case name into lowerCamel.
func camel(s string) string {
	var b strings.Builder
	up := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			up = true
			continue
		}
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		b.WriteByte(c)
	}
	return b.String()
}

// get returns the field name (given in lowerCamel) of o, spelled either way.
func get(o obj, name string) any {
	if v, ok := o[name]; ok {
		return v
	}
	return o[snake(name)]
}

func getObj(o obj, name string) obj {
	m, _ := get(o, name).(obj)
	return m
}

func getString(o obj, name string) string {
	s, _ := get(o, name).(string)
	return s
}

// getList returns a repeated field; Google accepts a single value for one.
func getList(o obj, name string) []any {
	switch v := get(o, name).(type) {
	case []any:
		return v
	case nil:
		return nil
	default:
		return []any{v}
	}
}

func getInt(o obj, name string) (int, bool) {
	n, ok := get(o, name).(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	if err != nil {
		f, ferr := n.Float64()
		if ferr != nil {
			return 0, false
		}
		i = int64(f)
	}
	return int(i), true
}

// Known fields, in lowerCamel, of the messages the fake checks.
var (
	requestFields = set("contents", "systemInstruction", "tools", "toolConfig", "safetySettings", "generationConfig", "cachedContent", "model")
	contentFields = set("role", "parts")
	partFields    = set("text", "inlineData", "fileData", "functionCall", "functionResponse", "thought", "thoughtSignature",
		"executableCode", "codeExecutionResult", "videoMetadata", "mediaResolution", "toolCall", "toolResponse")
	// The Developer API rejects "id" on function calls and responses.
	functionCallFields     = set("name", "args")
	functionResponseFields = set("name", "response", "parts", "willContinue", "scheduling")
	blobFields             = set("mimeType", "data")
	fileDataFields         = set("mimeType", "fileUri")
	generationFields       = set("stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "candidateCount",
		"maxOutputTokens", "temperature", "topP", "topK", "seed", "presencePenalty", "frequencyPenalty", "responseLogprobs",
		"logprobs", "enableEnhancedCivicAnswers", "responseModalities", "speechConfig", "thinkingConfig", "mediaResolution", "imageConfig")
	thinkingFields = set("includeThoughts", "thinkingBudget", "thinkingLevel")
	toolFields     = set("functionDeclarations", "googleSearch", "googleSearchRetrieval", "codeExecution", "urlContext",
		"fileSearch", "googleMaps", "computerUse")
	declarationFields = set("name", "description", "parameters", "parametersJsonSchema", "response", "responseJsonSchema", "behavior")
	toolConfigFields  = set("functionCallingConfig", "retrievalConfig")
	callingFields     = set("mode", "allowedFunctionNames")
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// checkFields rejects a field of o that is not in known, as Google does.
func checkFields(o obj, known map[string]bool, path string) *apiError {
	for k := range o {
		if known[camel(k)] {
			continue
		}
		if path == "" {
			return badRequest(fmt.Sprintf("Invalid JSON payload received. Unknown name %q: Cannot find field.", k))
		}
		e := badRequest(fmt.Sprintf("Invalid JSON payload received. Unknown name %q at '%s': Cannot find field.", k, path))
		e.field = path
		return e
	}
	return nil
}

// validBytes reports whether s is base64 as Google's JSON parser takes it
// (standard or URL alphabet, padded or not).
func validBytes(s string) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if _, err := enc.DecodeString(s); err == nil {
			return true
		}
	}
	return false
}

// validateGenerate checks a generateContent request. model is the model
// in the URL.
func validateGenerate(req obj, model string) *apiError {
	if e := checkFields(req, requestFields, ""); e != nil {
		return e
	}
	if e := validateContents(getList(req, "contents"), "contents"); e != nil {
		return e
	}
	if si := getObj(req, "systemInstruction"); si != nil {
		if e := validateContent(si, "system_instruction", true); e != nil {
			return e
		}
	}
	for i, t := range getList(req, "tools") {
		to, _ := t.(obj)
		path := fmt.Sprintf("tools[%d]", i)
		if e := checkFields(to, toolFields, path); e != nil {
			return e
		}
		for j, d := range getList(to, "functionDeclarations") {
			do, _ := d.(obj)
			dpath := fmt.Sprintf("%s.function_declarations[%d]", path, j)
			if e := checkFields(do, declarationFields, dpath); e != nil {
				return e
			}
			if getString(do, "name") == "" {
				return badRequest(fmt.Sprintf("* GenerateContentRequest.%s.name: Name cannot be empty.\n", dpath))
			}
		}
	}
	if tc := getObj(req, "toolConfig"); tc != nil {
		if e := checkFields(tc, toolConfigFields, "tool_config"); e != nil {
			return e
		}
		if fc := getObj(tc, "functionCallingConfig"); fc != nil {
			if e := checkFields(fc, callingFields, "tool_config.function_calling_config"); e != nil {
				return e
			}
		}
	}
	if gc := getObj(req, "generationConfig"); gc != nil {
		if e := checkFields(gc, generationFields, "generation_config"); e != nil {
			return e
		}
		if tc := getObj(gc, "thinkingConfig"); tc != nil {
			if e := checkFields(tc, thinkingFields, "generation_config.thinking_config"); e != nil {
				return e
			}
		}
	}
	if isGemini3(model) {
		return checkSignatures(getList(req, "contents"))
	}
	return nil
}

func validateContents(contents []any, path string) *apiError {
	if len(contents) == 0 {
		return badRequest("* GenerateContentRequest.contents: contents is not specified\n")
	}
	for i, c := range contents {
		co, ok := c.(obj)
		if !ok {
			return badRequest(fmt.Sprintf("Invalid value at '%s[%d]': expected an object", path, i))
		}
		if e := validateContent(co, fmt.Sprintf("%s[%d]", path, i), false); e != nil {
			return e
		}
	}
	return nil
}

func validateContent(co obj, path string, system bool) *apiError {
	if e := checkFields(co, contentFields, path); e != nil {
		return e
	}
	switch role := getString(co, "role"); role {
	case "", "user", "model":
	case "function":
		if system {
			return badRequest("Please use a valid role: user, model.")
		}
	default:
		return badRequest("Please use a valid role: user, model.")
	}
	parts := getList(co, "parts")
	if len(parts) == 0 {
		return badRequest(fmt.Sprintf("* GenerateContentRequest.%s.parts: contents.parts must not be empty.\n", path))
	}
	for j, p := range parts {
		po, ok := p.(obj)
		ppath := fmt.Sprintf("%s.parts[%d]", path, j)
		if !ok {
			return badRequest(fmt.Sprintf("Invalid value at '%s': expected an object", ppath))
		}
		if e := validatePart(po, ppath); e != nil {
			return e
		}
	}
	return nil
}

func validatePart(po obj, path string) *apiError {
	if e := checkFields(po, partFields, path); e != nil {
		return e
	}
	if sig, ok := get(po, "thoughtSignature").(string); ok && !validBytes(sig) {
		return badRequest(fmt.Sprintf("Invalid value at '%s.thought_signature' (TYPE_BYTES), Base64 decoding failed for %q", path, sig))
	}
	if b := getObj(po, "inlineData"); b != nil {
		if e := checkFields(b, blobFields, path+".inline_data"); e != nil {
			return e
		}
		if !validBytes(getString(b, "data")) {
			return badRequest(fmt.Sprintf("Invalid value at '%s.inline_data.data' (TYPE_BYTES), Base64 decoding failed", path))
		}
	}
	if f := getObj(po, "fileData"); f != nil {
		if e := checkFields(f, fileDataFields, path+".file_data"); e != nil {
			return e
		}
	}
	if fc, ok := get(po, "functionCall").(obj); ok {
		if e := checkFields(fc, functionCallFields, path+".function_call"); e != nil {
			return e
		}
		if getString(fc, "name") == "" {
			return badRequest(fmt.Sprintf("* GenerateContentRequest.%s.function_call.name: Name cannot be empty.\n", path))
		}
	}
	if fr, ok := get(po, "functionResponse").(obj); ok {
		if e := checkFields(fr, functionResponseFields, path+".function_response"); e != nil {
			return e
		}
		if getString(fr, "name") == "" {
			return badRequest(fmt.Sprintf("* GenerateContentRequest.%s.function_response.name: Name cannot be empty.\n", path))
		}
	}
	return nil
}

func isGemini3(model string) bool {
	return strings.Contains(model, "gemini-3")
}

// checkSignatures applies Gemini 3's rule: in the current turn (the
// contents after the last user content with text), the first function
// call of every model content must carry a thought signature.
func checkSignatures(contents []any) *apiError {
	start := 0
	for i, c := range contents {
		co, _ := c.(obj)
		if getString(co, "role") == "model" {
			continue
		}
		for _, p := range getList(co, "parts") {
			po, _ := p.(obj)
			if _, ok := get(po, "text").(string); ok {
				start = i
				break
			}
		}
	}
	for i := start; i < len(contents); i++ {
		co, _ := contents[i].(obj)
		if getString(co, "role") != "model" {
			continue
		}
		for j, p := range getList(co, "parts") {
			po, _ := p.(obj)
			fc, ok := get(po, "functionCall").(obj)
			if !ok {
				continue
			}
			if getString(po, "thoughtSignature") == "" {
				return badRequest(fmt.Sprintf("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:%s` , position %d. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.", getString(fc, "name"), j+1))
			}
			break
		}
	}
	return nil
}
