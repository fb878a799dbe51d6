package proxy

import (
	"bytes"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/sluicehq/sluice/internal/jsonlimit"
)

// checkJSON is the first pass over every request body, before any other
// parser sees it: one iterative scan that refuses invalid JSON and JSON
// nested deeper than jsonlimit.MaxDepth, so that every later pass (gjson,
// encoding/json in the codecs, the upstream's parser) meets bounded input.
// (peek and checkObject make the same checks in the pass that reads the
// fields.)
func checkJSON(body []byte) error {
	return jsonError(jsonlimit.Check(body, jsonlimit.MaxDepth))
}

// jsonError is the client's error for jsonlimit's refusal.
func jsonError(err error) error {
	if err == nil {
		return nil
	}
	if je, ok := err.(*jsonlimit.Error); ok && je.Reason == jsonlimit.ReasonTooDeep {
		return errBadRequest("json_too_deep", "", "The request body nests JSON deeper than %d levels (at byte %d).", jsonlimit.MaxDepth, je.Offset)
	}
	if je, ok := err.(*jsonlimit.Error); ok {
		return errBadRequest("invalid_json", "", "The request body is not valid JSON (error at byte %d).", je.Offset)
	}
	return errBadRequest("invalid_json", "", "The request body is not valid JSON.")
}

// peeked is what the data plane reads from a request body without decoding it.
type peeked struct {
	model        gjson.Result
	stream       bool
	includeUsage bool
	// limits are the top-level max_tokens, max_completion_tokens and
	// max_output_tokens (first occurrences), in that order of preference.
	limits [3]gjson.Result
}

// peek checks a request body and reads it, in one pass over its bytes
// (jsonlimit.CheckMembers): the checks of checkJSON; it must be a JSON
// object; and its top-level "model" and "stream" fields are read. The
// fields the gateway decides on must appear once each and be spelled
// exactly (see checkFieldsIn): parsers disagree on which copy of a repeated
// key wins, and some match keys without regard to case, and Sluice must
// authorise, meter and reserve for what the upstream will serve.
//
// The results point into body, which is read without a copy: body must not
// change while they are used, and a string kept beyond the request (the
// ledger's model name) is cloned.
func peek(body []byte) (peeked, error) {
	var s bodyScan
	s.fields, s.peek = decidedFields, true
	if err := s.scan(body); err != nil {
		return peeked{}, err
	}
	p := s.p
	if s.streamErr != nil {
		return p, s.streamErr
	}
	return p, p.settle()
}

// settle checks what a peek read, whichever scan read it: the output limits
// agree (the reservation reads one; an upstream may honour another, so two
// that disagree are refused rather than guessed) and model is a non-empty
// UTF-8 string.
func (p *peeked) settle() error {
	for _, a := range p.limits {
		for _, b := range p.limits {
			if a.Exists() && b.Exists() && a.Raw != b.Raw {
				return errBadRequest("conflicting_limits", "max_tokens",
					"The request body sets output limits that disagree (max_tokens, max_completion_tokens, max_output_tokens); set one.")
			}
		}
	}
	if !p.model.Exists() || p.model.Type == gjson.Null {
		return errBadRequest("missing_model", "model", "You must provide a model parameter.")
	}
	if p.model.Type != gjson.String || p.model.Str == "" || !utf8.ValidString(p.model.Str) {
		return errBadRequest("invalid_type", "model", "'model' must be a non-empty UTF-8 string.")
	}
	return nil
}

// checkObject is checkJSON, then the body must be a JSON object whose
// decided fields pass checkFieldsIn: one pass over the bytes.
func checkObject(body []byte) error {
	var s bodyScan
	s.fields = decidedFields
	return s.scan(body)
}

// bodyScan is one pass over a request body: jsonlimit's checks, then
// checkFieldsIn's on its top-level members (fields), and, with peek, the
// fields peek reads.
type bodyScan struct {
	fields    []field
	peek      bool
	seen      [64]bool // seen[i]: fields[i] appeared
	fieldErr  error    // checkFieldsIn's verdict: its first refusal
	streamErr error
	p         peeked
}

// scan checks body: invalid or too deep JSON first, then a body that is not
// an object, then the first refused field, as checkJSON, a root check and
// checkFieldsIn would answer in turn.
func (s *bodyScan) scan(body []byte) error {
	if len(s.fields) > len(s.seen) {
		panic("proxy: more decided fields than bodyScan tracks")
	}
	if err := jsonlimit.CheckMembers(body, jsonlimit.MaxDepth, s.member); err != nil {
		return jsonError(err)
	}
	if i := skipSpace(body); i >= len(body) || body[i] != '{' {
		return errBadRequest("invalid_json", "", "The request body must be a JSON object.")
	}
	return s.fieldErr
}

// member is checkFieldsIn's work on one top-level member (it stops at the
// first refusal), and peek's reading of it.
func (s *bodyScan) member(rawKey, rawValue []byte, at int) {
	if s.fieldErr != nil {
		return
	}
	k := gjson.Result{Type: gjson.String, Raw: unsafe.String(unsafe.SliceData(rawKey), len(rawKey))}
	if bytes.IndexByte(rawKey, '\\') < 0 {
		k.Str = k.Raw[1 : len(k.Raw)-1]
	} else {
		k.Str = gjson.Parse(k.Raw).Str
	}
	i, exact := matchField(k, s.fields)
	if i < 0 {
		return // peek reads decided fields only
	}
	// The value is parsed only where it is read (a large "messages" or
	// "input" is not).
	value := func() gjson.Result {
		v := gjson.Parse(unsafe.String(unsafe.SliceData(rawValue), len(rawValue)))
		v.Index = at
		return v
	}
	name := s.fields[i].names[0]
	switch {
	case !exact:
		s.fieldErr = errBadRequest("invalid_field_name", name, "The request body names the field '%s' as %s; write it exactly '%s'.",
			name, truncate(k.Raw, 64), name)
	case s.seen[i]:
		s.fieldErr = errBadRequest("duplicate_key", name, "The request body repeats the field '%s'; each field may appear once (names that differ only in case count as the same field).", name)
	case s.fields[i].nested != nil && rawValue[0] == '{':
		s.seen[i] = true
		s.fieldErr = checkFieldsIn(value(), s.fields[i].nested, name+".")
	default:
		s.seen[i] = true
	}
	if s.fieldErr != nil || !s.peek {
		return
	}
	p := &s.p
	switch k.Str {
	case "model", "stream", "stream_options", "max_tokens", "max_completion_tokens", "max_output_tokens":
	default:
		return
	}
	v := value()
	switch k.Str {
	case "model":
		p.model = v
	case "stream":
		switch v.Type {
		case gjson.True:
			p.stream = true
		case gjson.False, gjson.Null:
		default:
			s.streamErr = errBadRequest("invalid_type", "stream", "'stream' must be a boolean.")
		}
	case "stream_options":
		p.includeUsage = v.Get("include_usage").Type == gjson.True
	case "max_tokens":
		setFirst(&p.limits[0], v)
	case "max_completion_tokens":
		setFirst(&p.limits[1], v)
	case "max_output_tokens":
		setFirst(&p.limits[2], v)
	}
}

func skipSpace(b []byte) int {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// setFirst keeps the first occurrence of a key, as a lookup finds it.
func setFirst(dst *gjson.Result, v gjson.Result) {
	if !dst.Exists() {
		*dst = v
	}
}

// A field is one field the gateway decides on, with the spellings that
// name it (Gemini's API takes both the JSON and the proto name), and the
// decided fields of its value when it is an object.
type field struct {
	names  []string
	nested []field
}

// decidedFields are the top-level fields that the gateway reads, or that
// change what it authorises, reserves, meters or routes, in any protocol.
var decidedFields = []field{
	{names: []string{"model"}}, {names: []string{"stream"}},
	{names: []string{"stream_options"}, nested: []field{{names: []string{"include_usage"}}}},
	{names: []string{"max_tokens"}}, {names: []string{"max_completion_tokens"}}, {names: []string{"max_output_tokens"}},
	{names: []string{"n"}}, {names: []string{"user"}},
	{names: []string{"metadata"}, nested: []field{{names: []string{"user_id"}}}},
	{names: []string{"tools"}}, {names: []string{"tool_choice"}}, {names: []string{"functions"}}, {names: []string{"function_call"}},
	{names: []string{"messages"}}, {names: []string{"input"}}, {names: []string{"instructions"}},
	{names: []string{"system"}}, {names: []string{"prompt"}}, {names: []string{"previous_response_id"}},
	{names: []string{"contents"}}, {names: []string{"systemInstruction", "system_instruction"}},
	{names: []string{"generateContentRequest", "generate_content_request"}},
	{names: []string{"generationConfig", "generation_config"}, nested: []field{
		{names: []string{"maxOutputTokens", "max_output_tokens"}}, {names: []string{"candidateCount", "candidate_count"}},
	}},
	{names: []string{"toolConfig", "tool_config"}}, {names: []string{"cachedContent", "cached_content"}},
}

// checkFieldsIn refuses an object in which one of fields appears twice,
// or under a spelling its protocol does not define but a lenient parser
// would accept: a different case ("MODEL", which Go's encoding/json and
// Ollama match to "model"), Unicode case folds ("ſtream"), or escapes
// ("mod\u0065l"). A request body's top level is checked against
// decidedFields by bodyScan, in the pass that checks its JSON.
func checkFieldsIn(obj gjson.Result, fields []field, path string) error {
	seen := make([]bool, len(fields))
	var err error
	obj.ForEach(func(k, v gjson.Result) bool {
		i, exact := matchField(k, fields)
		if i < 0 {
			return true
		}
		name := func() string { return path + fields[i].names[0] } // built only for a refusal
		switch {
		case !exact:
			err = errBadRequest("invalid_field_name", name(), "The request body names the field '%s' as %s; write it exactly '%s'.",
				name(), truncate(k.Raw, 64), fields[i].names[0])
		case seen[i]:
			err = errBadRequest("duplicate_key", name(), "The request body repeats the field '%s'; each field may appear once (names that differ only in case count as the same field).", name())
		case fields[i].nested != nil && v.IsObject():
			seen[i] = true
			err = checkFieldsIn(v, fields[i].nested, name()+".")
		default:
			seen[i] = true
		}
		return err == nil
	})
	return err
}

// matchField returns the index of the field that key k names, ignoring
// case, and whether k spells it exactly (without escapes); -1 when k names
// no decided field.
func matchField(k gjson.Result, fields []field) (int, bool) {
	key := k.Str
	for i, f := range fields {
		for _, name := range f.names {
			// A key that folds to name is as long as name, or longer by
			// non-ASCII letters (at most 3 bytes each, like the Kelvin sign).
			if len(key) < len(name) || len(key) > 3*len(name) {
				continue
			}
			if c := key[0]; c < utf8.RuneSelf && c|0x20 != name[0]|0x20 {
				continue
			}
			if strings.EqualFold(key, name) {
				raw := k.Raw // exact: the key is name between quotes
				return i, len(raw) == len(name)+2 && raw[1:len(raw)-1] == name
			}
		}
	}
	return -1, false
}
