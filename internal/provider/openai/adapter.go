// Package openai is the adapter for upstreams that speak the OpenAI API:
// OpenAI itself and every OpenAI-compatible server (vLLM, Ollama, Mistral,
// Groq, DeepSeek, OpenRouter, Together, llama.cpp).
package openai

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/provider"
)

// Options configure an Adapter.
type Options struct {
	Name    string
	BaseURL string // the API root, such as https://api.openai.com/v1
	APIKey  string
	Headers map[string]string
	Timeout time.Duration
	Client  *http.Client // shared, with a tuned transport
}

// Adapter sends OpenAI-protocol requests to one base URL.
type Adapter struct {
	name    string
	base    string
	auth    string // "Bearer <key>", or "" when the upstream needs none
	headers map[string]string
	timeout time.Duration
	client  *http.Client
}

var _ provider.Adapter = (*Adapter)(nil)

// DefaultTimeout bounds one attempt when the provider sets none.
const DefaultTimeout = 10 * time.Minute

// New returns an adapter for opts.
func New(opts Options) *Adapter {
	a := &Adapter{
		name:    opts.Name,
		base:    strings.TrimRight(opts.BaseURL, "/"),
		headers: opts.Headers,
		timeout: opts.Timeout,
		client:  opts.Client,
	}
	if opts.APIKey != "" {
		a.auth = "Bearer " + opts.APIKey
	}
	if a.timeout <= 0 {
		a.timeout = DefaultTimeout
	}
	if a.client == nil {
		a.client = http.DefaultClient
	}
	return a
}

// Name implements provider.Adapter.
func (a *Adapter) Name() string { return a.name }

// Protocol implements provider.Adapter.
func (a *Adapter) Protocol() provider.Protocol { return provider.ProtocolOpenAI }

// Timeout implements provider.Adapter.
func (a *Adapter) Timeout() time.Duration { return a.timeout }

// Do implements provider.Adapter.
func (a *Adapter) Do(ctx context.Context, req *provider.Request) (*http.Response, error) {
	var path string
	switch req.Op {
	case provider.OpChat:
		path = "/chat/completions"
	case provider.OpEmbeddings:
		path = "/embeddings"
	case provider.OpResponses:
		path = "/responses"
	default:
		return nil, provider.ErrUnsupported
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(req.Body))
	if err != nil {
		return nil, err
	}
	h := hr.Header
	for k, vs := range req.Header {
		h[k] = vs
	}
	h.Set("Content-Type", "application/json")
	if req.Stream {
		h.Set("Accept", "text/event-stream")
	} else if h.Get("Accept") == "" {
		h.Set("Accept", "application/json")
	}
	for k, v := range a.headers {
		h.Set(k, v)
	}
	switch {
	case req.APIKey != "":
		h.Set("Authorization", "Bearer "+req.APIKey)
	case a.auth != "":
		h.Set("Authorization", a.auth)
	}
	return a.client.Do(hr)
}
