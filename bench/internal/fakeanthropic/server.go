package fakeanthropic

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/bench/internal/fakeopenai"
)

// Options are the server's defaults; the header X-Fake-Chunks overrides
// Chunks for one request (as on the OpenAI fake).
type Options struct {
	// Chunks is the number of text deltas of a stream.
	Chunks int
	// Gap is the pause between two deltas. The head and the first delta
	// are sent at once, and the tail follows the last delta at once.
	Gap time.Duration
}

// Server serves POST /v1/messages. It checks what Anthropic's API checks
// cheaply (x-api-key and anthropic-version present, max_tokens > 0,
// messages not empty) and nothing else. It is safe for concurrent use.
type Server struct {
	opts Options

	requests atomic.Int64 // requests answered (stream or not)
	streams  atomic.Int64 // stream requests answered
}

// NewServer returns a server with the given options.
func NewServer(opts Options) *Server {
	if opts.Chunks <= 0 {
		opts.Chunks = 50
	}
	return &Server{opts: opts}
}

// Counts returns the requests and the streams answered.
func (s *Server) Counts() (requests, streams int64) {
	return s.requests.Load(), s.streams.Load()
}

// request is the part of a Messages request the fake reads.
type request struct {
	MaxTokens int  `json:"max_tokens"`
	Stream    bool `json:"stream"`
	Messages  []struct {
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

// lastText returns the text of the last message: the string, or the text
// blocks joined.
func (r *request) lastText() string {
	if len(r.Messages) == 0 {
		return ""
	}
	raw := r.Messages[len(r.Messages)-1].Content
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &blocks) != nil {
		return string(raw)
	}
	for _, b := range blocks {
		if b.Type == "text" {
			s += b.Text
		}
	}
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/messages" {
		writeError(w, http.StatusNotFound, "not_found_error", "unknown path "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "use POST")
		return
	}
	if r.Header.Get("X-Api-Key") == "" {
		writeError(w, http.StatusUnauthorized, "authentication_error", "x-api-key header is required")
		return
	}
	if r.Header.Get("Anthropic-Version") == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "reading body: "+err.Error())
		return
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid JSON: "+err.Error())
		return
	}
	if req.MaxTokens <= 0 || len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "max_tokens and messages are required")
		return
	}
	chunks := s.opts.Chunks
	if v := r.Header.Get("X-Fake-Chunks"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "bad X-Fake-Chunks "+strconv.Quote(v))
			return
		}
		chunks = n
	}
	text := req.lastText()
	s.requests.Add(1)
	if !req.Stream {
		out := AppendMessage(make([]byte, 0, 512), ID(text), fakeopenai.PromptTokens(text))
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(out)))
		_, _ = w.Write(out)
		return
	}
	s.streams.Add(1)
	s.stream(w, r, text, chunks)
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, text string, chunks int) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	buf := AppendHead(make([]byte, 0, 1024), ID(text), fakeopenai.PromptTokens(text))
	var timer *time.Timer
	for i := range chunks {
		if i > 0 && s.opts.Gap > 0 {
			if timer == nil {
				timer = time.NewTimer(s.opts.Gap)
			} else {
				timer.Reset(s.opts.Gap)
			}
			select {
			case <-timer.C:
			case <-r.Context().Done():
				timer.Stop()
				return
			}
		}
		buf = AppendDelta(buf, i)
		if i == chunks-1 {
			buf = AppendTail(buf, chunks)
		}
		if _, err := w.Write(buf); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		buf = buf[:0]
	}
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "error", "error": map[string]any{"type": typ, "message": msg},
	})
}
