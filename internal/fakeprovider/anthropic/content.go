package anthropicfake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"

	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
)

// The fake's answers are pure functions of the request, exported (or shared with the
// OpenAI fake, whose Reply, CountTokens and ToolArguments it uses) so that tests can
// compute what to expect, whichever protocol they reach the fake through.

// CountTokens is the fake's tokenizer: one token per whitespace-separated word.
func CountTokens(s string) int { return openaifake.CountTokens(s) }

// Reply is the reply text for a request whose last user text is lastUser, padded with
// filler words up to minWords words: "Echo: <first 32 words>", as the OpenAI fake says.
func Reply(lastUser string, minWords int) string { return openaifake.Reply(lastUser, 0, minWords) }

// ThinkingText is the thinking the fake shows when thinking is on.
func ThinkingText(lastUser string) string {
	words := strings.Fields(lastUser)
	if len(words) > 8 {
		words = words[:8]
	}
	if len(words) == 0 {
		return "Thinking about: nothing"
	}
	return "Thinking about: " + strings.Join(words, " ")
}

// Signature is the signature of a thinking block with this text. The fake rejects a
// thinking block sent back with any other signature, as Anthropic does.
func Signature(thinking string) string {
	sum := sha256.Sum256([]byte("sluice-fake-thinking\x00" + thinking))
	return "fakesig_" + base64.StdEncoding.EncodeToString(sum[:])
}

// RedactedData is the data of the fake's redacted_thinking block.
func RedactedData(lastUser string) string {
	sum := sha256.Sum256([]byte("sluice-fake-redacted\x00" + lastUser))
	return "fakeredacted_" + base64.StdEncoding.EncodeToString(sum[:12])
}

// ToolUseID is the id of the fake's n-th (from 0) tool_use block for tool name in a
// request with this arrival number.
func ToolUseID(seq int, name string, n int) string {
	sum := sha256.Sum256([]byte(name))
	id := "toolu_fake" + strconv.Itoa(seq) + "x" + strconv.FormatUint(uint64(binary.BigEndian.Uint32(sum[:4])), 36)
	if n > 0 {
		id += "_" + strconv.Itoa(n)
	}
	return id
}

// ToolInput is the input the fake passes to a tool with this input schema: see
// openaifake.ToolArguments.
func ToolInput(schema json.RawMessage, lastUser string) string {
	return openaifake.ToolArguments(schema, lastUser)
}

// text returns the text of a content: the string, or its text blocks joined by a
// space.
func text(raw json.RawMessage) string {
	blocks, s, ok := contentBlocks(raw)
	if !ok || blocks == nil {
		return s
	}
	var texts []string
	for _, b := range blocks {
		if b.Type == "text" && b.Text != nil {
			texts = append(texts, *b.Text)
		}
	}
	return strings.Join(texts, " ")
}

// lastUserText is the text the fake answers: that of the last user message, or of
// its last tool result when it has tool results.
func lastUserText(msgs []inMessage) (lastUser string, hasToolResult bool) {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != "user" {
			continue
		}
		blocks, s, _ := contentBlocks(msgs[i].Content)
		if blocks == nil {
			return s, false
		}
		for j := len(blocks) - 1; j >= 0; j-- {
			if blocks[j].Type == "tool_result" {
				return text(blocks[j].Content), true
			}
		}
		return text(msgs[i].Content), false
	}
	return "", false
}

// inputTokens counts the words of the system prompt, of every text and tool
// result, and of every tool input; at least 1.
func inputTokens(req *messagesRequest) int {
	n := CountTokens(text(req.System))
	for _, m := range req.Messages {
		blocks, s, _ := contentBlocks(m.Content)
		n += CountTokens(s)
		for _, b := range blocks {
			switch b.Type {
			case "text":
				if b.Text != nil {
					n += CountTokens(*b.Text)
				}
			case "tool_result":
				n += CountTokens(text(b.Content))
			case "tool_use":
				n += CountTokens(b.Name) + CountTokens(string(b.Input))
			case "thinking":
				if b.Thinking != nil {
					n += CountTokens(*b.Thinking)
				}
			}
		}
	}
	return max(n, 1)
}
