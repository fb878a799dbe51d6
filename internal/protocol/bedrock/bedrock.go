// Package bedrock is the AWS Bedrock Converse protocol as an upstream
// speaks it: it encodes canonical requests as Converse bodies, decodes
// Converse answers, ConverseStream event streams (binary
// application/vnd.amazon.eventstream frames, CRC-checked) and errors.
// Bedrock is an upstream protocol only: no client speaks it to Sluice.
//
// What does not map (see EncodeRequest): seed, frequency and presence
// penalties, parallel_tool_calls=false, tool_choice "none" with tools,
// json_object mode (Converse has structured output only as a JSON schema),
// image URLs (Sluice does not fetch them) and OpenAI image detail.
// Model-specific parameters travel in additionalModelRequestFields in the
// Anthropic Claude form (top_k, thinking), or Amazon Nova's for top_k.
package bedrock

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/sluicehq/sluice/internal/llm"
)

// Name is the protocol's name.
const Name = "bedrock"

// Upstream is the Bedrock Converse upstream codec.
var Upstream llm.UpstreamCodec = codec{}

type codec struct{}

var _ llm.UpstreamCodec = codec{}

// Name implements llm.UpstreamCodec.
func (codec) Name() string { return Name }

// NewStreamReader implements llm.UpstreamCodec.
func (codec) NewStreamReader() llm.StreamReader { return NewStreamReader() }

// newID returns a message id. Converse answers carry none (the request id
// is only in a response header the codec does not see), so the codec makes
// one up. A variable so that tests can make it deterministic.
var newID = func() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "msg_bdrk_" + hex.EncodeToString(b[:])
}
