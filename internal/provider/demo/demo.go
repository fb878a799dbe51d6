// Package demo is Sluice's built-in demo provider: an OpenAI-compatible
// model that runs inside the process and answers deterministically, so that
// a fresh install serves its first request without any upstream account.
//
// It is served through an in-process http.RoundTripper, so demo traffic
// takes exactly the path of real OpenAI-protocol traffic: forwarding,
// streaming, metering and the ledger.
package demo

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/sluicehq/sluice/internal/meter"
)

// BaseURL is the API root the demo adapter is configured with.
const BaseURL = "http://demo.sluice.invalid/v1"

// Client returns an HTTP client whose requests are answered in-process by
// the demo model.
func Client() *http.Client { return &http.Client{Transport: Transport{Handler: Handler()}} }

// Handler returns the demo model's OpenAI-compatible HTTP handler.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", chat)
	mux.HandleFunc("POST /v1/embeddings", embeddings)
	return mux
}

// chunkGap paces demo streams so that streaming is visible in a terminal.
var chunkGap = 15 * time.Millisecond

func chat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || !gjson.ValidBytes(body) {
		writeError(w, http.StatusBadRequest, "the request body is not valid JSON")
		return
	}
	req := gjson.ParseBytes(body)
	model := req.Get("model").Str
	prompt := lastUserText(req.Get("messages"))
	inTokens := meter.EstimateChatInput(body)
	id := fmt.Sprintf("chatcmpl-demo%x", sha256.Sum256(body))[:30]
	created := time.Now().Unix()

	var toolName string
	if tc := req.Get("tool_choice"); tc.Str != "none" {
		toolName = req.Get("tools.0.function.name").Str
		if n := tc.Get("function.name"); n.Exists() {
			toolName = n.Str
		}
	}
	answer := "Hello from the Sluice demo model. You said: " + prompt
	if prompt == "" {
		answer = "Hello from the Sluice demo model."
	}
	if req.Get("response_format.type").Str == "json_object" || req.Get("response_format.type").Str == "json_schema" {
		b, _ := json.Marshal(map[string]string{"echo": prompt})
		answer = string(b)
	}
	args := `{}`
	finish := "stop"
	outText := answer
	if toolName != "" {
		finish, outText = "tool_calls", toolName+args
	}
	outTokens := meter.CountText(outText)
	usage := map[string]any{
		"prompt_tokens": inTokens, "completion_tokens": outTokens, "total_tokens": inTokens + outTokens,
		"prompt_tokens_details":     map[string]int{"cached_tokens": 0},
		"completion_tokens_details": map[string]int{"reasoning_tokens": 0},
	}

	if !req.Get("stream").Bool() {
		msg := map[string]any{"role": "assistant", "content": answer, "refusal": nil}
		if toolName != "" {
			msg["content"] = nil
			msg["tool_calls"] = []any{map[string]any{"id": "call_demo_1", "type": "function",
				"function": map[string]string{"name": toolName, "arguments": args}}}
		}
		n := max(int(req.Get("n").Int()), 1)
		choices := make([]any, n)
		for i := range choices {
			choices[i] = map[string]any{"index": i, "message": msg, "logprobs": nil, "finish_reason": finish}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": model,
			"choices": choices, "usage": usage, "system_fingerprint": "fp_sluice_demo",
		})
		return
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"system_fingerprint": "fp_sluice_demo",
			"choices":            []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}}
	}
	if !send(chunk(map[string]any{"role": "assistant", "content": ""}, nil)) {
		return
	}
	if toolName != "" {
		send(chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "id": "call_demo_1", "type": "function",
			"function": map[string]string{"name": toolName, "arguments": ""}}}}, nil))
		send(chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]string{"arguments": args}}}}, nil))
	} else {
		for _, word := range strings.SplitAfter(answer, " ") {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(chunkGap):
			}
			if !send(chunk(map[string]any{"content": word}, nil)) {
				return
			}
		}
	}
	send(chunk(map[string]any{}, finish))
	if req.Get("stream_options.include_usage").Bool() {
		send(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []any{}, "usage": usage})
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
}

func embeddings(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || !gjson.ValidBytes(body) {
		writeError(w, http.StatusBadRequest, "the request body is not valid JSON")
		return
	}
	req := gjson.ParseBytes(body)
	var inputs []string
	in := req.Get("input")
	if in.Type == gjson.String {
		inputs = []string{in.Str}
	} else {
		in.ForEach(func(_, v gjson.Result) bool { inputs = append(inputs, v.Raw); return true })
	}
	dims := int(req.Get("dimensions").Int())
	if dims <= 0 || dims > 3072 {
		dims = 16
	}
	b64 := req.Get("encoding_format").Str == "base64"
	data := make([]any, len(inputs))
	for i, s := range inputs {
		vec := vector(s, dims)
		var emb any = vec
		if b64 {
			buf := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": emb}
	}
	tokens := meter.EstimateEmbeddingInput(body)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Get("model").Str,
		"usage": map[string]int64{"prompt_tokens": tokens, "total_tokens": tokens}})
}

// vector derives a deterministic unit vector from s.
func vector(s string, dims int) []float32 {
	out := make([]float32, dims)
	var norm float64
	seed := sha256.Sum256([]byte(s))
	for i := range out {
		if i%8 == 0 && i > 0 {
			seed = sha256.Sum256(seed[:])
		}
		v := float64(int32(binary.LittleEndian.Uint32(seed[(i%8)*4:]))) / math.MaxInt32
		out[i] = float32(v)
		norm += v * v
	}
	norm = math.Sqrt(norm)
	for i := range out {
		out[i] = float32(float64(out[i]) / norm)
	}
	return out
}

func lastUserText(msgs gjson.Result) string {
	var text string
	msgs.ForEach(func(_, m gjson.Result) bool {
		if m.Get("role").Str != "user" {
			return true
		}
		c := m.Get("content")
		if c.Type == gjson.String {
			text = c.Str
		} else {
			var parts []string
			c.ForEach(func(_, p gjson.Result) bool {
				if t := p.Get("text"); t.Exists() {
					parts = append(parts, t.Str)
				}
				return true
			})
			text = strings.Join(parts, " ")
		}
		return true
	})
	if len(text) > 2000 {
		text = text[:2000]
	}
	return text
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": msg, "type": "invalid_request_error", "param": nil, "code": nil}})
}
