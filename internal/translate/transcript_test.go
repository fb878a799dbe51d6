package translate

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
)

// A request is reduced to a transcript: what it asks, in terms that every
// protocol can express, so that a client's request and the upstream request
// made from it can be compared.

// transcript is what a request asks: the conversation flattened into
// items, signed thinking, tools, and the settings compared across
// protocols.
type transcript struct {
	system    []string
	items     []string
	thoughts  []string // "<text>|<signature>" of signed thinking
	unsigned  int      // thinking blocks without a signature
	tools     []string // "<name> <canonical schema>"
	maxTokens int64
	schema    string
	stream    string // "true"/"false" where the body says; "" where the endpoint does
}

func (tr *transcript) item(role, kind, v string) {
	tr.items = append(tr.items, role+":"+kind+":"+v)
}

func (tr *transcript) text(role, s string) {
	if s != "" {
		tr.item(role, "text", s)
	}
}

func (tr *transcript) thought(text, sig string) {
	if sig != "" {
		tr.thoughts = append(tr.thoughts, text+"|"+sig)
	}
}

// unsignedThought records a thinking block without a signature, in the
// protocols whose thinking blocks are signed (Anthropic, Bedrock).
func (tr *transcript) unsignedThought(sig string) {
	if sig == "" {
		tr.unsigned++
	}
}

// image records an image by format and data: "png:<base64>".
func (tr *transcript) image(mediaType, data string) {
	f := strings.TrimPrefix(strings.ToLower(mediaType), "image/")
	if f == "jpg" {
		f = "jpeg"
	}
	tr.item("user", "image", f+":"+data)
}

// dataURL splits a base64 data: URL.
func dataURL(u string) (string, string) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return "url", u
	}
	meta, data, _ := strings.Cut(rest, ",")
	return strings.TrimSuffix(meta, ";base64"), data
}

// normSchema makes a JSON Schema and Gemini's OpenAPI subset comparable:
// type names in lower case, no propertyOrdering.
func normSchema(raw string) string {
	var v any
	if raw == "" || json.Unmarshal([]byte(raw), &v) != nil {
		return raw
	}
	var walk func(any) any
	walk = func(x any) any {
		switch t := x.(type) {
		case map[string]any:
			delete(t, "propertyOrdering")
			for k, v := range t {
				if s, ok := v.(string); ok && k == "type" {
					t[k] = strings.ToLower(s)
				} else {
					t[k] = walk(v)
				}
			}
		case []any:
			for i := range t {
				t[i] = walk(t[i])
			}
		}
		return x
	}
	b, _ := json.Marshal(walk(v))
	return string(b)
}

func boolText(r gjson.Result) string {
	if !r.Exists() {
		return "false"
	}
	return fmt.Sprint(r.Bool())
}

// readRequest reads a request body.
func readRequest(proto string, body []byte) transcript {
	r := gjson.ParseBytes(body)
	var tr transcript
	names := map[string]string{} // tool call id -> name
	switch proto {
	case "openai":
		for _, m := range r.Get("messages").Array() {
			role := m.Get("role").Str
			c := m.Get("content")
			texts := func(f func(string)) {
				if c.Type == gjson.String {
					f(c.Str)
					return
				}
				for _, p := range c.Array() {
					if p.Get("type").Str == "text" {
						f(p.Get("text").Str)
					}
				}
			}
			switch role {
			case "system", "developer":
				texts(func(s string) { tr.system = append(tr.system, s) })
			case "user":
				if c.Type == gjson.String {
					tr.text("user", c.Str)
				}
				for _, p := range c.Array() {
					switch p.Get("type").Str {
					case "text":
						tr.text("user", p.Get("text").Str)
					case "image_url":
						tr.image(dataURL(p.Get("image_url.url").Str))
					}
				}
			case "assistant":
				texts(func(s string) { tr.text("assistant", s) })
				for _, tc := range m.Get("tool_calls").Array() {
					names[tc.Get("id").Str] = tc.Get("function.name").Str
					tr.item("assistant", "call", tc.Get("function.name").Str+" "+canonJSON(tc.Get("function.arguments").Str))
				}
			case "tool":
				var parts []string
				texts(func(s string) { parts = append(parts, s) })
				tr.item("user", "result", names[m.Get("tool_call_id").Str]+" "+strings.Join(parts, "\n"))
			}
		}
		for _, t := range r.Get("tools").Array() {
			tr.tools = append(tr.tools, t.Get("function.name").Str+" "+normSchema(t.Get("function.parameters").Raw))
		}
		tr.maxTokens = r.Get("max_completion_tokens").Int()
		if tr.maxTokens == 0 {
			tr.maxTokens = r.Get("max_tokens").Int()
		}
		tr.schema = normSchema(r.Get("response_format.json_schema.schema").Raw)
		tr.stream = boolText(r.Get("stream"))

	case "responses":
		if s := r.Get("instructions").Str; s != "" {
			tr.system = append(tr.system, s)
		}
		in := r.Get("input")
		if in.Type == gjson.String {
			tr.text("user", in.Str)
		}
		for _, it := range in.Array() {
			typ := it.Get("type").Str
			if typ == "" && it.Get("role").Exists() {
				typ = "message"
			}
			switch typ {
			case "message":
				role := it.Get("role").Str
				c := it.Get("content")
				add := func(s string) {
					switch role {
					case "system", "developer":
						tr.system = append(tr.system, s)
					default:
						tr.text(role, s)
					}
				}
				if c.Type == gjson.String {
					add(c.Str)
				}
				for _, p := range c.Array() {
					switch p.Get("type").Str {
					case "input_text", "output_text":
						add(p.Get("text").Str)
					case "input_image":
						tr.image(dataURL(p.Get("image_url").Str))
					}
				}
			case "function_call":
				names[it.Get("call_id").Str] = it.Get("name").Str
				tr.item("assistant", "call", it.Get("name").Str+" "+canonJSON(it.Get("arguments").Str))
			case "function_call_output":
				out := it.Get("output")
				text := out.Str
				if out.IsArray() {
					var parts []string
					for _, p := range out.Array() {
						parts = append(parts, p.Get("text").Str)
					}
					text = strings.Join(parts, "\n")
				}
				tr.item("user", "result", names[it.Get("call_id").Str]+" "+text)
			case "reasoning":
				var texts []string
				for _, s := range it.Get("summary").Array() {
					texts = append(texts, s.Get("text").Str)
				}
				tr.thought(strings.Join(texts, "\n\n"), it.Get("encrypted_content").Str)
			}
		}
		for _, t := range r.Get("tools").Array() {
			tr.tools = append(tr.tools, t.Get("name").Str+" "+normSchema(t.Get("parameters").Raw))
		}
		tr.maxTokens = r.Get("max_output_tokens").Int()
		tr.schema = normSchema(r.Get("text.format.schema").Raw)
		tr.stream = boolText(r.Get("stream"))

	case "anthropic":
		if s := r.Get("system"); s.Type == gjson.String {
			tr.system = append(tr.system, s.Str)
		} else {
			for _, b := range s.Array() {
				tr.system = append(tr.system, b.Get("text").Str)
			}
		}
		for _, m := range r.Get("messages").Array() {
			role := m.Get("role").Str
			c := m.Get("content")
			if c.Type == gjson.String {
				tr.text(role, c.Str)
				continue
			}
			for _, b := range c.Array() {
				switch b.Get("type").Str {
				case "text":
					tr.text(role, b.Get("text").Str)
				case "image":
					if b.Get("source.type").Str == "base64" {
						tr.image(b.Get("source.media_type").Str, b.Get("source.data").Str)
					} else {
						tr.image("url", b.Get("source.url").Str)
					}
				case "tool_use":
					names[b.Get("id").Str] = b.Get("name").Str
					tr.item(role, "call", b.Get("name").Str+" "+canonJSON(b.Get("input").Raw))
				case "tool_result":
					rc := b.Get("content")
					text := rc.Str
					if rc.IsArray() {
						var parts []string
						for _, p := range rc.Array() {
							parts = append(parts, p.Get("text").Str)
						}
						text = strings.Join(parts, "\n")
					}
					tr.item(role, "result", names[b.Get("tool_use_id").Str]+" "+text)
				case "thinking":
					tr.thought(b.Get("thinking").Str, b.Get("signature").Str)
					tr.unsignedThought(b.Get("signature").Str)
				}
			}
		}
		for _, t := range r.Get("tools").Array() {
			tr.tools = append(tr.tools, t.Get("name").Str+" "+normSchema(t.Get("input_schema").Raw))
		}
		tr.maxTokens = r.Get("max_tokens").Int()
		tr.schema = normSchema(r.Get("output_config.format.schema").Raw)
		tr.stream = boolText(r.Get("stream"))

	case "gemini":
		for _, p := range r.Get("systemInstruction.parts").Array() {
			tr.system = append(tr.system, p.Get("text").Str)
		}
		for _, c := range r.Get("contents").Array() {
			role := "user"
			if c.Get("role").Str == "model" {
				role = "assistant"
			}
			for _, p := range c.Get("parts").Array() {
				if p.Get("thought").Bool() {
					tr.thought(p.Get("text").Str, p.Get("thoughtSignature").Str)
					continue
				}
				tr.thought("", p.Get("thoughtSignature").Str)
				switch {
				case p.Get("inlineData").Exists():
					tr.image(p.Get("inlineData.mimeType").Str, p.Get("inlineData.data").Str)
				case p.Get("functionCall").Exists():
					args := p.Get("functionCall.args").Raw
					if args == "" {
						args = "{}"
					}
					tr.item(role, "call", p.Get("functionCall.name").Str+" "+canonJSON(args))
				case p.Get("functionResponse").Exists():
					resp := p.Get("functionResponse.response")
					text := resp.Raw
					if m := resp.Map(); len(m) == 1 && (m["output"].Type == gjson.String || m["error"].Type == gjson.String) {
						text = m["output"].Str + m["error"].Str
					}
					tr.item(role, "result", p.Get("functionResponse.name").Str+" "+text)
				default:
					tr.text(role, p.Get("text").Str)
				}
			}
		}
		for _, t := range r.Get("tools").Array() {
			for _, fd := range t.Get("functionDeclarations").Array() {
				schema := fd.Get("parametersJsonSchema").Raw
				if schema == "" {
					schema = fd.Get("parameters").Raw
				}
				tr.tools = append(tr.tools, fd.Get("name").Str+" "+normSchema(schema))
			}
		}
		gc := r.Get("generationConfig")
		tr.maxTokens = gc.Get("maxOutputTokens").Int()
		schema := gc.Get("responseJsonSchema").Raw
		if schema == "" {
			schema = gc.Get("responseSchema").Raw
		}
		tr.schema = normSchema(schema)

	case "bedrock":
		for _, s := range r.Get("system").Array() {
			tr.system = append(tr.system, s.Get("text").Str)
		}
		for _, m := range r.Get("messages").Array() {
			role := m.Get("role").Str
			for _, b := range m.Get("content").Array() {
				switch {
				case b.Get("text").Exists():
					tr.text(role, b.Get("text").Str)
				case b.Get("image").Exists():
					tr.image(b.Get("image.format").Str, b.Get("image.source.bytes").Str)
				case b.Get("toolUse").Exists():
					names[b.Get("toolUse.toolUseId").Str] = b.Get("toolUse.name").Str
					tr.item(role, "call", b.Get("toolUse.name").Str+" "+canonJSON(b.Get("toolUse.input").Raw))
				case b.Get("toolResult").Exists():
					var parts []string
					for _, p := range b.Get("toolResult.content").Array() {
						parts = append(parts, p.Get("text").Str)
					}
					tr.item(role, "result", names[b.Get("toolResult.toolUseId").Str]+" "+strings.Join(parts, "\n"))
				case b.Get("reasoningContent.reasoningText").Exists():
					tr.thought(b.Get("reasoningContent.reasoningText.text").Str, b.Get("reasoningContent.reasoningText.signature").Str)
					tr.unsignedThought(b.Get("reasoningContent.reasoningText.signature").Str)
				}
			}
		}
		for _, t := range r.Get("toolConfig.tools").Array() {
			tr.tools = append(tr.tools, t.Get("toolSpec.name").Str+" "+normSchema(t.Get("toolSpec.inputSchema.json").Raw))
		}
		tr.maxTokens = r.Get("inferenceConfig.maxTokens").Int()
		tr.schema = normSchema(r.Get("outputConfig.textFormat.structure.jsonSchema.schema").Str)
	}
	return tr
}
