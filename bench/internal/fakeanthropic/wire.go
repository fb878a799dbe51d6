// Package fakeanthropic is a fast, minimal fake of Anthropic's Messages API
// (POST /v1/messages), used as an upstream in the translation benchmark
// (an OpenAI client through a gateway to an Anthropic upstream).
//
// It answers with the same text and the same token counts as the fake
// OpenAI upstream (package fakeopenai) would for the same request: the
// non-stream text is fakeopenai.CompletionText with
// fakeopenai.CompletionTokens output tokens, text delta i of a stream is
// fakeopenai.ChunkContent(i), and input_tokens is fakeopenai.PromptTokens of
// the last message's text. So one checker of the text and the usage a client
// receives serves both translation directions. Every byte is a function of
// the request; only the framing is Anthropic's.
package fakeanthropic

import (
	"hash/fnv"
	"strconv"

	"github.com/sluicehq/sluice/bench/internal/fakeopenai"
)

// Model is the model the fake reports, whatever the request named.
const Model = fakeopenai.Model

// ID returns the message id for a request whose last message has the given
// text.
func ID(content string) string {
	h := fnv.New64a()
	h.Write([]byte(content))
	return "msg_bench" + strconv.FormatUint(h.Sum64(), 16)
}

// AppendMessage appends a non-stream `message` body.
func AppendMessage(dst []byte, id string, inputTokens int) []byte {
	dst = append(dst, `{"id":"`...)
	dst = append(dst, id...)
	dst = append(dst, `","type":"message","role":"assistant","content":[{"type":"text","text":"`+
		fakeopenai.CompletionText+`"}],"model":"`+Model+`","stop_reason":"end_turn","stop_sequence":null,`+
		`"usage":{"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(inputTokens), 10)
	dst = append(dst, `,"output_tokens":`...)
	dst = strconv.AppendInt(dst, fakeopenai.CompletionTokens, 10)
	return append(dst, "}}\n"...)
}

func appendEvent(dst []byte, name string) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	return append(dst, "\ndata: "...)
}

// AppendHead appends what a stream starts with: message_start (with the
// input tokens, as Anthropic reports them there) and content_block_start.
func AppendHead(dst []byte, id string, inputTokens int) []byte {
	dst = appendEvent(dst, "message_start")
	dst = append(dst, `{"type":"message_start","message":{"id":"`...)
	dst = append(dst, id...)
	dst = append(dst, `","type":"message","role":"assistant","content":[],"model":"`+Model+
		`","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(inputTokens), 10)
	dst = append(dst, `,"output_tokens":1}}}`+"\n\n"...)
	dst = appendEvent(dst, "content_block_start")
	return append(dst, `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`+"\n\n"...)
}

// AppendDelta appends the content_block_delta of text chunk i.
func AppendDelta(dst []byte, i int) []byte {
	dst = appendEvent(dst, "content_block_delta")
	dst = append(dst, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"`...)
	dst = append(dst, fakeopenai.ChunkContent(i)...)
	return append(dst, `"}}`+"\n\n"...)
}

// AppendTail appends what follows the last delta: content_block_stop,
// message_delta (stop reason and output tokens, one per chunk) and
// message_stop.
func AppendTail(dst []byte, chunks int) []byte {
	dst = appendEvent(dst, "content_block_stop")
	dst = append(dst, `{"type":"content_block_stop","index":0}`+"\n\n"...)
	dst = appendEvent(dst, "message_delta")
	dst = append(dst, `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":`...)
	dst = strconv.AppendInt(dst, int64(chunks), 10)
	dst = append(dst, "}}\n\n"...)
	dst = appendEvent(dst, "message_stop")
	return append(dst, `{"type":"message_stop"}`+"\n\n"...)
}

// AppendStream appends the whole SSE body the fake sends for a stream
// request whose last message has the given text.
func AppendStream(dst []byte, content string, chunks int) []byte {
	dst = AppendHead(dst, ID(content), fakeopenai.PromptTokens(content))
	for i := range chunks {
		dst = AppendDelta(dst, i)
	}
	return AppendTail(dst, chunks)
}
