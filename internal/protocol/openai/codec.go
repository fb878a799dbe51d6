// Package openai translates the OpenAI Chat Completions protocol to and
// from Sluice's canonical model (package llm), in both roles: Client decodes
// what OpenAI clients send and renders answers, streams and errors as they
// expect them; Upstream encodes canonical requests for OpenAI and
// OpenAI-compatible servers and decodes their answers, streams and errors.
//
// The codecs run only when the client's protocol differs from the
// upstream's; same-protocol traffic is forwarded byte for byte and only
// metered with Upstream's StreamReader. So a client field that the other
// protocols cannot carry is rejected with a 400 naming it, never dropped.
//
// Mapping notes that are not obvious:
//
//   - system and developer messages become the canonical System, in order,
//     wherever they stand in the conversation.
//   - tool messages become tool_result parts of one user message; a user
//     message that directly follows tool messages joins that message.
//   - reasoning_content (DeepSeek, vLLM; "reasoning" from OpenRouter) is
//     read as thinking, and written back on assistant messages of requests
//     unless UpstreamCodec.OmitReasoning is set. Thinking signatures and
//     redacted thinking have no place in this protocol: they are dropped
//     when encoding, as they are only meaningful to the model that made them.
//   - a thinking budget (Anthropic, Gemini) becomes reasoning_effort: under
//     8192 tokens "low", under 24576 "medium", otherwise "high". Thinking
//     disabled without an effort sends no reasoning_effort (the model's
//     default), since models without reasoning reject the field.
//   - a failed tool result (is_error) has no flag here: its text is prefixed
//     with "Error: ".
//   - usage: prompt_tokens includes cached and cache-write tokens, as the
//     canonical input does; the cache-write count is also written to
//     prompt_tokens_details.cache_write_tokens, the field of the current
//     OpenAI API (older clients ignore it), and read from it when present.
package openai

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"time"

	"github.com/sluicehq/sluice/internal/llm"
)

// Name is the protocol name of both codecs.
const Name = "openai"

// Client is the Chat Completions client codec with the default clock and ids.
var Client = ClientCodec{}

// Upstream is the Chat Completions upstream codec with default options.
var Upstream = UpstreamCodec{}

var (
	_ llm.ClientCodec   = ClientCodec{}
	_ llm.UpstreamCodec = UpstreamCodec{}
)

// ClientCodec is the Chat Completions protocol as clients speak it. It is
// stateless and safe for concurrent use.
type ClientCodec struct {
	// Now is the clock of "created" fields when the upstream gave none;
	// time.Now when nil.
	Now func() time.Time
	// NewID returns a completion id when the upstream gave none; a random
	// "chatcmpl-..." id when nil.
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
	return "chatcmpl-" + randomID(24)
}

// UpstreamCodec is the Chat Completions protocol as upstreams speak it. It
// is stateless and safe for concurrent use.
type UpstreamCodec struct {
	// LegacyMaxTokens sends the token limit as max_tokens, for older
	// OpenAI-compatible servers, instead of max_completion_tokens, which
	// OpenAI's reasoning models require.
	LegacyMaxTokens bool
	// OmitReasoning leaves thinking out of assistant messages instead of
	// sending it as reasoning_content, for servers that reject that field.
	OmitReasoning bool
}

// Name implements llm.UpstreamCodec.
func (UpstreamCodec) Name() string { return Name }

// NewStreamReader implements llm.UpstreamCodec.
func (UpstreamCodec) NewStreamReader() llm.StreamReader { return NewStreamReader() }

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomID returns n random alphanumeric characters.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}

// marshal is json.Marshal without HTML escaping, so that text and JSON
// values (tool arguments, schemas) keep their bytes.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
