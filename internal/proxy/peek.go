package proxy

import (
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// peeked is what the data plane reads from a request body without decoding it.
type peeked struct {
	model        gjson.Result
	stream       bool
	includeUsage bool
	// limits are the top-level max_tokens, max_completion_tokens and
	// max_output_tokens (first occurrences), in that order of preference.
	limits [3]gjson.Result
}

// peek validates body as a JSON object and reads its top-level "model" and
// "stream" fields. A duplicated "model" or "stream" key is refused: parsers
// disagree on which copy wins, and Sluice must authorise the model that the
// upstream will serve.
func peek(body []byte) (peeked, error) {
	var p peeked
	if !gjson.ValidBytes(body) {
		return p, errBadRequest("invalid_json", "", "The request body is not valid JSON.")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return p, errBadRequest("invalid_json", "", "The request body must be a JSON object.")
	}
	var models, streams int
	var err error
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			models++
			p.model = v
		case "stream":
			streams++
			switch v.Type {
			case gjson.True:
				p.stream = true
			case gjson.False, gjson.Null:
			default:
				err = errBadRequest("invalid_type", "stream", "'stream' must be a boolean.")
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
		return true
	})
	if err != nil {
		return p, err
	}
	if models > 1 || streams > 1 {
		return p, errBadRequest("duplicate_key", "model", "The request body repeats a top-level key ('model' or 'stream').")
	}
	if !p.model.Exists() || p.model.Type == gjson.Null {
		return p, errBadRequest("missing_model", "model", "You must provide a model parameter.")
	}
	if p.model.Type != gjson.String || p.model.Str == "" || !utf8.ValidString(p.model.Str) {
		return p, errBadRequest("invalid_type", "model", "'model' must be a non-empty UTF-8 string.")
	}
	return p, nil
}

// setFirst keeps the first occurrence of a key, as a lookup finds it.
func setFirst(dst *gjson.Result, v gjson.Result) {
	if !dst.Exists() {
		*dst = v
	}
}
