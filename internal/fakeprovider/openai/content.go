package openaifake

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// The fake's answers are pure functions of the request, exported so that tests can
// compute what to expect.

// EchoWords is how many words of the last user message a reply echoes.
const EchoWords = 32

// filler pads a reply when a stream is asked for more chunks than the reply has words.
var filler = []string{"lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"}

// CountTokens is the fake's tokenizer: one token per whitespace-separated word.
func CountTokens(s string) int { return len(strings.Fields(s)) }

// Reply returns the text of choice index (from 0) for a request whose last user
// message has the text lastUser, padded with filler words up to minWords words (the
// stream's chunk count, or 0). Choice 0 is "Echo: <first 32 words>"; choice i > 0 adds
// " #<i+1>".
func Reply(lastUser string, index, minWords int) string {
	words := strings.Fields(lastUser)
	if len(words) > EchoWords {
		words = words[:EchoWords]
	}
	text := "Echo:"
	if len(words) == 0 {
		text += " (no text)"
	} else {
		text += " " + strings.Join(words, " ")
	}
	if index > 0 {
		text += " #" + strconv.Itoa(index+1)
	}
	for i := 0; CountTokens(text) < minWords; i++ {
		text += " " + filler[i%len(filler)]
	}
	return text
}

// Split cuts text into n pieces (one per word when n <= 0) that concatenate back to
// text. Pieces break before the space of a word, as model tokens do; when text has
// fewer words than n, there are fewer pieces.
func Split(text string, n int) []string {
	var words []string
	start := 0
	for i := 1; i < len(text); i++ {
		if text[i] == ' ' && text[i-1] != ' ' {
			words = append(words, text[start:i])
			start = i
		}
	}
	if start < len(text) {
		words = append(words, text[start:])
	}
	if n <= 0 || n >= len(words) {
		return words
	}
	pieces := make([]string, 0, n)
	for i := range n {
		lo, hi := i*len(words)/n, (i+1)*len(words)/n
		pieces = append(pieces, strings.Join(words[lo:hi], ""))
	}
	return pieces
}

// SplitBytes cuts s into pieces of at most size bytes (used for tool arguments).
func SplitBytes(s string, size int) []string {
	var out []string
	for len(s) > size {
		out = append(out, s[:size])
		s = s[size:]
	}
	return append(out, s)
}

// chatMessage is the part of a request message the fake reads.
type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// MessageText returns the text of a message content: the string itself, or the
// "text" of its text parts joined by a space (image, audio and file parts are skipped).
func MessageText(content json.RawMessage) string {
	var s string
	if json.Unmarshal(content, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(content, &parts) != nil {
		return ""
	}
	var texts []string
	for _, p := range parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, " ")
}

// lastUserText returns the text of the last user message, or of the last tool result
// when the conversation ends with one.
func lastUserText(msgs []chatMessage) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		switch msgs[i].Role {
		case "user":
			return MessageText(msgs[i].Content)
		case "tool":
			if i == len(msgs)-1 {
				return MessageText(msgs[i].Content)
			}
		}
	}
	return ""
}

// promptTokens counts the words of every message's text, at least 1.
func promptTokens(msgs []chatMessage) int {
	n := 0
	for _, m := range msgs {
		n += CountTokens(MessageText(m.Content))
	}
	return max(n, 1)
}

// ToolArguments returns the JSON arguments the fake passes to a function whose
// parameters JSON schema is params: an object with every declared property, in sorted
// order, set to the first enum value, or by type: string -> the first 8 words of the
// last user message ("fake" when empty), integer -> 1, number -> 1.5, boolean -> true,
// array -> [], object -> {}, anything else -> null.
func ToolArguments(params json.RawMessage, lastUser string) string {
	var schema struct {
		Properties map[string]struct {
			Type any               `json:"type"`
			Enum []json.RawMessage `json:"enum"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(params, &schema)
	words := strings.Fields(lastUser)
	if len(words) > 8 {
		words = words[:8]
	}
	str := strings.Join(words, " ")
	if str == "" {
		str = "fake"
	}
	names := make([]string, 0, len(schema.Properties))
	for name := range schema.Properties {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		b.Write(k)
		b.WriteByte(':')
		p := schema.Properties[name]
		if len(p.Enum) > 0 {
			b.Write(p.Enum[0])
			continue
		}
		typ, _ := p.Type.(string)
		if list, ok := p.Type.([]any); ok && len(list) > 0 {
			typ, _ = list[0].(string)
		}
		switch typ {
		case "string":
			v, _ := json.Marshal(str)
			b.Write(v)
		case "integer":
			b.WriteString("1")
		case "number":
			b.WriteString("1.5")
		case "boolean":
			b.WriteString("true")
		case "array":
			b.WriteString("[]")
		case "object":
			b.WriteString("{}")
		default:
			b.WriteString("null")
		}
	}
	b.WriteByte('}')
	return b.String()
}

// ToolCallID returns the id of the fake's tool call for function name in a request
// with this arrival number.
func ToolCallID(seq int, name string) string {
	sum := sha256.Sum256([]byte(name))
	return "call_fake" + strconv.Itoa(seq) + "x" + strconv.FormatUint(uint64(binary.BigEndian.Uint32(sum[:4])), 36)
}

// Embedding returns the fake's vector for one input: dims values k/1024 with k in
// [-1024, 1024] derived from a hash of the input, so that every value is exact in
// float32, in float64 and in its shortest decimal form.
func Embedding(input string, dims int) []float32 {
	out := make([]float32, dims)
	var block [32]byte
	for i := range out {
		if i%16 == 0 {
			block = sha256.Sum256([]byte(input + "#" + strconv.Itoa(i/16)))
		}
		u := binary.BigEndian.Uint16(block[(i%16)*2:])
		out[i] = float32(int(u%2049)-1024) / 1024
	}
	return out
}
