// Package fakeopenai is a fast, minimal fake of the OpenAI chat completions
// API, used as the upstream in benchmarks.
//
// Every byte it sends is a pure function of the request: the completion id is
// derived from the last message's content (see ID), the model, the created
// timestamp and the fingerprint are constants, and chunk i of a stream carries
// the content "tok%05d " (see AppendChunk). A load generator that knows what it
// sent can therefore rebuild the exact stream the upstream produced (see
// AppendStream) and check what came back byte for byte, including the order
// of the chunks.
package fakeopenai

import (
	"hash/fnv"
	"strconv"
)

const (
	// Model is the model name the fake reports in every response, whatever
	// model the request named (real providers also answer with their own
	// model id).
	Model = "fake-upstream-model"
	// Created is the fixed `created` timestamp of every response.
	Created = 1767225600
	// Fingerprint is the fixed `system_fingerprint` of every response.
	Fingerprint = "fp_bench"
	// CompletionTokens is the completion_tokens reported for a non-stream
	// response; a stream reports one token per content chunk.
	CompletionTokens = 16
	// Done is the last event of every stream.
	Done = "data: [DONE]\n\n"
)

// CompletionText is the assistant message of a non-stream response. It needs
// no JSON escaping.
const CompletionText = "This is the fake upstream answering a benchmark request with sixteen tokens."

// ID returns the completion id for a request whose last message has the
// given content.
func ID(content string) string {
	h := fnv.New64a()
	h.Write([]byte(content))
	return "chatcmpl-bench" + strconv.FormatUint(h.Sum64(), 16)
}

// PromptTokens is the prompt_tokens the fake reports for a request whose last
// message has the given content: about four bytes per token.
func PromptTokens(content string) int { return (len(content) + 3) / 4 }

func appendHead(dst []byte, id, object string) []byte {
	dst = append(dst, `{"id":"`...)
	dst = append(dst, id...)
	dst = append(dst, `","object":"`...)
	dst = append(dst, object...)
	dst = append(dst, `","created":`...)
	dst = strconv.AppendInt(dst, Created, 10)
	dst = append(dst, `,"model":"`+Model+`","system_fingerprint":"`+Fingerprint+`",`...)
	return dst
}

func appendUsage(dst []byte, prompt, completion int) []byte {
	dst = append(dst, `"usage":{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(prompt), 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, int64(completion), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(prompt+completion), 10)
	dst = append(dst, '}')
	return dst
}

// AppendCompletion appends a non-stream `chat.completion` body.
func AppendCompletion(dst []byte, id string, promptTokens int) []byte {
	dst = appendHead(dst, id, "chat.completion")
	dst = append(dst, `"choices":[{"index":0,"message":{"role":"assistant","content":"`+CompletionText+
		`","refusal":null},"logprobs":null,"finish_reason":"stop"}],`...)
	dst = appendUsage(dst, promptTokens, CompletionTokens)
	return append(dst, "}\n"...)
}

// ChunkContent returns the content of chunk i; it encodes the index so that
// a reader can tell the order of chunks apart.
func ChunkContent(i int) string {
	return "tok" + pad5(i) + " "
}

func pad5(i int) string {
	s := strconv.Itoa(i)
	for len(s) < 5 {
		s = "0" + s
	}
	return s
}

// AppendChunk appends the SSE event of content chunk i (the first one also
// carries the assistant role).
func AppendChunk(dst []byte, id string, i int) []byte {
	dst = append(dst, "data: "...)
	dst = appendHead(dst, id, "chat.completion.chunk")
	dst = append(dst, `"choices":[{"index":0,"delta":{`...)
	if i == 0 {
		dst = append(dst, `"role":"assistant",`...)
	}
	dst = append(dst, `"content":"`...)
	dst = append(dst, ChunkContent(i)...)
	dst = append(dst, `"},"logprobs":null,"finish_reason":null}]}`+"\n\n"...)
	return dst
}

// AppendTail appends what follows the last content chunk: the finish chunk,
// the usage chunk when includeUsage is set, and `data: [DONE]`.
func AppendTail(dst []byte, id string, promptTokens, chunks int, includeUsage bool) []byte {
	dst = append(dst, "data: "...)
	dst = appendHead(dst, id, "chat.completion.chunk")
	dst = append(dst, `"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`+"\n\n"...)
	if includeUsage {
		dst = append(dst, "data: "...)
		dst = appendHead(dst, id, "chat.completion.chunk")
		dst = append(dst, `"choices":[],`...)
		dst = appendUsage(dst, promptTokens, chunks)
		dst = append(dst, "}\n\n"...)
	}
	return append(dst, Done...)
}

// AppendStream appends the whole SSE body the fake sends for a stream request
// whose last message has the given content.
func AppendStream(dst []byte, content string, chunks int, includeUsage bool) []byte {
	id := ID(content)
	for i := range chunks {
		dst = AppendChunk(dst, id, i)
	}
	return AppendTail(dst, id, PromptTokens(content), chunks, includeUsage)
}
