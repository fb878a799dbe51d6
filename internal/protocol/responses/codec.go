// Package responses translates the OpenAI Responses API (POST
// /v1/responses, the default of the Vercel AI SDK and of Codex) to and from
// Sluice's canonical model, as clients speak it: Client decodes requests and
// renders responses, streams of typed events and errors. For Responses
// traffic passed through to an OpenAI upstream, NewTap meters the stream and
// UsageFromBody a complete answer.
//
// Sluice stores no responses, so what needs them is rejected with a 400
// naming it: previous_response_id, conversation, item_reference input items
// and store: true (absent or false are accepted: the Vercel AI SDK sends
// item_reference items for earlier assistant turns unless its store option
// is false). Built-in tools (web_search, file_search, ...) are rejected too.
//
// Mapping notes that are not obvious:
//
//   - instructions and system or developer messages become the canonical
//     System, in order.
//   - reasoning items carry thinking: the summary text is the thinking
//     text, and encrypted_content carries the signature of the upstream's
//     thinking block, so that it survives a round trip through a client that
//     sends reasoning items back. Redacted thinking travels as a reasoning
//     item with no summary whose encrypted_content is RedactedPrefix + data.
//   - function tools without "strict" are not strict.
//   - usage: input_tokens includes cached and cache-write tokens
//     (input_tokens_details.cache_write_tokens), output_tokens includes
//     reasoning tokens, as in the canonical model.
package responses

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"slices"
	"time"

	"github.com/sluicehq/sluice/internal/llm"
)

// Name is the protocol name.
const Name = "responses"

// RedactedPrefix marks the encrypted_content of a reasoning item that
// carries redacted thinking rather than a signature.
const RedactedPrefix = "sluice-redacted:"

// Client is the Responses client codec with the default clock and ids.
var Client = ClientCodec{}

var _ llm.ClientCodec = ClientCodec{}

// ClientCodec is the Responses protocol as clients speak it. It is
// stateless and safe for concurrent use.
type ClientCodec struct {
	// Now is the clock of created_at; time.Now when nil.
	Now func() time.Time
	// NewID returns the random part of a response's ids (resp_<id>, and
	// msg_, fc_ and rs_ ids derived from it); random when nil.
	NewID func() string
}

// Name implements llm.ClientCodec.
func (ClientCodec) Name() string { return Name }

func (c ClientCodec) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c ClientCodec) newID() string {
	if c.NewID != nil {
		return c.NewID()
	}
	const alphabet = "0123456789abcdef"
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]%16]
	}
	return string(b)
}

// marshal is json.Marshal without HTML escaping, so that text and JSON
// values keep their bytes.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// compact returns valid JSON without insignificant space.
func compact(raw []byte) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return json.RawMessage(raw)
	}
	return b.Bytes()
}

func isNull(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkFields rejects a non-null field of the object raw that is not in
// allowed. raw that is not an object passes: the typed decode reports it.
func checkFields(raw json.RawMessage, p string, allowed ...string) error {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return nil
	}
	for _, k := range sortedKeys(fields) {
		if !slices.Contains(allowed, k) && !isNull(fields[k]) {
			return llm.Unsupported(p+"."+k, "%s.%s cannot be translated for this model's provider", p, k)
		}
	}
	return nil
}
