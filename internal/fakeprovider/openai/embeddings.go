package openaifake

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// DefaultDimensions is the length of the fake's embeddings when the request does not
// set "dimensions".
const DefaultDimensions = 8

type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
}

type embeddingData struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

type embeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

type embeddingResponse struct {
	Object string          `json:"object"`
	Data   []embeddingData `json:"data"`
	Model  string          `json:"model"`
	Usage  embeddingUsage  `json:"usage"`
}

// EmbeddingInputs returns the inputs of an embeddings request as strings, with their
// token counts: a string or an array of strings (one token per word, at least 1 per
// input), or an array of token IDs or of arrays of token IDs (one token per ID; the
// text is the IDs joined by commas). It reports false for any other shape.
func EmbeddingInputs(raw json.RawMessage) (texts []string, tokens int, ok bool) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, max(1, CountTokens(one)), true
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		for _, s := range many {
			tokens += max(1, CountTokens(s))
		}
		return many, tokens, true
	}
	ids := func(list []int) string {
		parts := make([]string, len(list))
		for i, id := range list {
			parts[i] = strconv.Itoa(id)
		}
		return strings.Join(parts, ",")
	}
	var tokenList []int
	if json.Unmarshal(raw, &tokenList) == nil && len(tokenList) > 0 {
		return []string{ids(tokenList)}, len(tokenList), true
	}
	var tokenLists [][]int
	if json.Unmarshal(raw, &tokenLists) == nil && len(tokenLists) > 0 {
		for _, l := range tokenLists {
			texts = append(texts, ids(l))
			tokens += len(l)
		}
		return texts, tokens, true
	}
	return nil, 0, false
}

// EncodeBase64 encodes a vector as OpenAI does for encoding_format "base64": the
// little-endian float32 bytes in standard base64.
func EncodeBase64(v []float32) string {
	buf := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(buf)
}

func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	b, err := s.behavior(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "invalid_request_error", "", "")
		return
	}
	var req embeddingRequest
	if err := json.Unmarshal(recordOf(r).Body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "We could not parse the JSON body of your request.", "invalid_request_error", "", "")
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "you must provide a model parameter", "invalid_request_error", "", "")
		return
	}
	texts, tokens, ok := EmbeddingInputs(req.Input)
	if !ok {
		writeError(w, http.StatusBadRequest, "'input' must be a string, an array of strings, an array of tokens or an array of token arrays.", "invalid_request_error", "input", "")
		return
	}
	dims := DefaultDimensions
	if req.Dimensions != nil {
		if *req.Dimensions < 1 || *req.Dimensions > 4096 {
			writeError(w, http.StatusBadRequest, "Invalid 'dimensions': must be between 1 and 4096.", "invalid_request_error", "dimensions", "")
			return
		}
		dims = *req.Dimensions
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		writeError(w, http.StatusBadRequest, "Invalid 'encoding_format': must be 'float' or 'base64'.", "invalid_request_error", "encoding_format", "")
		return
	}
	if !s.prelude(w, r, b) {
		return
	}
	setCommonHeaders(w, r, req.Model)
	if b.Hang == HangAfterHeaders {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		s.Hang(r.Context())
		return
	}
	if b.PromptTokens != nil {
		tokens = *b.PromptTokens
	}
	resp := embeddingResponse{Object: "list", Model: req.Model, Usage: embeddingUsage{PromptTokens: tokens, TotalTokens: tokens}}
	for i, text := range texts {
		v := Embedding(text, dims)
		// float64 values print exactly; float32 would print its shortest float32 form,
		// which differs from the value once read back as float64.
		var e any = float64s(v)
		if req.EncodingFormat == "base64" {
			e = EncodeBase64(v)
		}
		resp.Data = append(resp.Data, embeddingData{Object: "embedding", Index: i, Embedding: e})
	}
	writeJSON(w, http.StatusOK, resp)
}

func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(f)
	}
	return out
}
