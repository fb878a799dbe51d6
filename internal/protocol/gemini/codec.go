// Package gemini is Google's Gemini API (generateContent,
// streamGenerateContent?alt=sse, countTokens) as Sluice's clients and
// upstreams speak it, translated to and from the canonical model in
// internal/llm.
//
// Client decodes Gemini requests and renders answers, streams and errors
// for Gemini clients; Upstream encodes canonical requests for a Gemini
// upstream and decodes its answers, streams and errors. Both are stateless
// and safe for concurrent use. The package also has the countTokens
// bodies: DecodeCountTokensRequest and EncodeCountTokensResponse for Gemini
// clients, EncodeCountTokensRequest and DecodeCountTokensResponse for a
// Gemini upstream.
//
// # Choices the protocols force
//
// Tool call ids: the Developer API pairs a functionResponse with its
// functionCall by name (and order), and rejects an "id" in either. Decoding
// Gemini, the codec synthesises ids ("call_<n>_<name>"; in responses
// "call_<responseId prefix>_<n>_<name>") and pairs responses with calls by
// id when the client sent one, else by name; encoding Gemini, it never
// sends ids and takes each functionResponse's name from the earlier tool
// call with the same ToolCallID.
//
// Thought signatures: Gemini attaches a thoughtSignature to a part (a
// functionCall, a text part, or an empty text part at the end of a turn),
// not to a thought. The canonical form of a signed non-thought part is a
// PartThinking with no text and the Signature, placed just before the part
// that carried it; a thought part (thought: true) is a PartThinking with its
// text and, if it has one, its signature. Encoding Gemini reverses this: a
// text-less PartThinking's signature goes on the next part of the message,
// or on an empty text part when none follows. A Gemini -> canonical ->
// Gemini round trip thus restores every signature on the part that carried
// it, and clients of other protocols that keep thinking blocks (Anthropic)
// carry Gemini's signatures through their turns too.
package gemini

import (
	"bytes"
	"encoding/json"

	"github.com/sluicehq/sluice/internal/llm"
)

// Name is the protocol's name.
const Name = "gemini"

// Client is the Gemini protocol as clients speak it.
var Client = ClientCodec{}

// Upstream is the Gemini protocol as an upstream speaks it.
var Upstream = UpstreamCodec{}

// ClientCodec implements llm.ClientCodec for Gemini clients. The zero value
// is ready.
type ClientCodec struct{}

// UpstreamCodec implements llm.UpstreamCodec for Gemini upstreams. The zero
// value is ready.
type UpstreamCodec struct{}

var (
	_ llm.ClientCodec   = ClientCodec{}
	_ llm.UpstreamCodec = UpstreamCodec{}
)

// Name implements llm.ClientCodec.
func (ClientCodec) Name() string { return Name }

// Name implements llm.UpstreamCodec.
func (UpstreamCodec) Name() string { return Name }

// marshal encodes v compactly, without escaping HTML characters.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
