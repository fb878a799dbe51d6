package fakeopenai

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Options are the server's defaults; a request can override them with the
// headers X-Fake-Chunks, X-Fake-Chunk-Gap and X-Fake-Delay (Go durations).
// A gateway may not forward those headers, so benchmarks through a gateway set
// the defaults with flags instead.
type Options struct {
	// Chunks is the number of content chunks of a stream.
	Chunks int
	// Gap is the pause between two content chunks. The first chunk is sent
	// at once, and the finish chunk, the usage chunk and [DONE] follow the
	// last content chunk without a pause.
	Gap time.Duration
	// Delay is a pause before the response headers.
	Delay time.Duration
}

// Server is the fake upstream. It is safe for concurrent use.
type Server struct {
	opts Options

	conns    atomic.Int64 // connections accepted
	requests atomic.Int64 // chat requests answered (stream or not)
	streams  atomic.Int64 // stream requests answered
}

// Stats are the server's counters, served as JSON at GET /_bench/stats.
type Stats struct {
	Conns    int64 `json:"conns"`
	Requests int64 `json:"requests"`
	Streams  int64 `json:"streams"`
}

// NewServer returns a server with the given defaults.
func NewServer(opts Options) *Server {
	if opts.Chunks <= 0 {
		opts.Chunks = 50
	}
	return &Server{opts: opts}
}

// ConnState counts new connections; install it as http.Server.ConnState.
func (s *Server) ConnState(_ net.Conn, st http.ConnState) {
	if st == http.StateNew {
		s.conns.Add(1)
	}
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{Conns: s.conns.Load(), Requests: s.requests.Load(), Streams: s.streams.Load()}
}

// request is the part of a chat request the fake reads.
type request struct {
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []struct {
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

// lastContent returns the last message's content as a string: decoded when
// it is a JSON string, raw otherwise (content parts).
func (r *request) lastContent() string {
	if len(r.Messages) == 0 {
		return ""
	}
	raw := r.Messages[len(r.Messages)-1].Content
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// ServeHTTP serves POST /v1/chat/completions, GET /healthz and
// GET /_bench/stats.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/chat/completions":
	case "/healthz":
		w.WriteHeader(http.StatusOK)
		return
	case "/_bench/stats":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats())
		return
	default:
		writeError(w, http.StatusNotFound, "not_found", "unknown path "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "use POST")
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
	opts, err := s.overrides(r.Header)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	if opts.Delay > 0 {
		t := time.NewTimer(opts.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	content := req.lastContent()
	s.requests.Add(1)
	if !req.Stream {
		out := AppendCompletion(make([]byte, 0, 512), ID(content), PromptTokens(content))
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(out)))
		_, _ = w.Write(out)
		return
	}
	s.streams.Add(1)
	s.stream(w, r, content, opts, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, content string, opts Options, includeUsage bool) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	id := ID(content)
	buf := make([]byte, 0, 1024)
	var timer *time.Timer
	for i := range opts.Chunks {
		if i > 0 && opts.Gap > 0 {
			if timer == nil {
				timer = time.NewTimer(opts.Gap)
			} else {
				timer.Reset(opts.Gap)
			}
			select {
			case <-timer.C:
			case <-r.Context().Done():
				timer.Stop()
				return
			}
		}
		buf = AppendChunk(buf[:0], id, i)
		if i == opts.Chunks-1 {
			buf = AppendTail(buf, id, PromptTokens(content), opts.Chunks, includeUsage)
		}
		if _, err := w.Write(buf); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func (s *Server) overrides(h http.Header) (Options, error) {
	opts := s.opts
	if v := h.Get("X-Fake-Chunks"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			return opts, fmt.Errorf("bad X-Fake-Chunks %q", v)
		}
		opts.Chunks = n
	}
	for _, o := range []struct {
		name string
		dst  *time.Duration
	}{{"X-Fake-Chunk-Gap", &opts.Gap}, {"X-Fake-Delay", &opts.Delay}} {
		if v := h.Get(o.name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d > time.Minute {
				return opts, fmt.Errorf("bad %s %q", o.name, v)
			}
			*o.dst = d
		}
	}
	return opts, nil
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil},
	})
}
