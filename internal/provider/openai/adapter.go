// Package openai is the adapter for upstreams that speak the OpenAI API:
// OpenAI itself and every OpenAI-compatible server (vLLM, Ollama, Mistral,
// Groq, DeepSeek, OpenRouter, Together, llama.cpp).
package openai

import (
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
	key     string // "" when the upstream needs none
	headers map[string]string
	timeout time.Duration
	client  *http.Client
	// Per operation, parsed once: the URL, and the key's Authorization
	// value.
	chat, embeddings, responses *provider.Endpoint
	bearer                      string
	send                        provider.Sender // the client, or its Transport directly
}

var _ provider.Adapter = (*Adapter)(nil)

// DefaultTimeout bounds one attempt when the provider sets none.
const DefaultTimeout = 10 * time.Minute

// New returns an adapter for opts.
func New(opts Options) *Adapter {
	a := &Adapter{
		name:    opts.Name,
		base:    strings.TrimRight(opts.BaseURL, "/"),
		key:     opts.APIKey,
		headers: opts.Headers,
		timeout: opts.Timeout,
		client:  opts.Client,
	}
	if a.timeout <= 0 {
		a.timeout = DefaultTimeout
	}
	if a.client == nil {
		a.client = http.DefaultClient
	}
	a.send = provider.NewSender(a.client)
	a.chat = provider.NewEndpoint(a.base + "/chat/completions")
	a.embeddings = provider.NewEndpoint(a.base + "/embeddings")
	a.responses = provider.NewEndpoint(a.base + "/responses")
	if a.key != "" {
		a.bearer = "Bearer " + a.key
	}
	return a
}

// Name implements provider.Adapter.
func (a *Adapter) Name() string { return a.name }

// Protocol implements provider.Adapter.
func (a *Adapter) Protocol() provider.Protocol { return provider.ProtocolOpenAI }

// GenAIProviderName is gen_ai.provider.name in the OpenTelemetry GenAI
// conventions.
func (a *Adapter) GenAIProviderName() string { return "openai" }

// Timeout implements provider.Adapter.
func (a *Adapter) Timeout() time.Duration { return a.timeout }

// Do implements provider.Adapter. The key (the request's pool key, else
// the configured one) goes in Authorization as a bearer token; configured
// headers override the client's, and the key overrides both.
func (a *Adapter) Do(ctx context.Context, req *provider.Request) (*http.Response, error) {
	var ep *provider.Endpoint
	switch req.Op {
	case provider.OpChat:
		ep = a.chat
	case provider.OpEmbeddings:
		ep = a.embeddings
	case provider.OpResponses:
		ep = a.responses
	default:
		return nil, provider.ErrUnsupported
	}
	hr, err := ep.NewRequest(ctx, req.Body)
	if err != nil {
		return nil, err
	}
	h := hr.Header
	provider.CopyHeader(h, req.Header)
	// The values the adapter sets share one allocation (capped slices, as
	// Set would leave them).
	vals := make([]string, 0, 3)
	set := func(k, v string) { vals = append(vals, v); h[k] = vals[len(vals)-1 : len(vals) : len(vals)] }
	set("Content-Type", "application/json")
	if req.Stream {
		set("Accept", "text/event-stream")
	} else if h.Get("Accept") == "" {
		set("Accept", "application/json")
	}
	for k, v := range a.headers {
		h.Set(k, v)
	}
	switch {
	case req.APIKey != "":
		set("Authorization", "Bearer "+req.APIKey)
	case a.bearer != "":
		set("Authorization", a.bearer)
	}
	return a.send.Do(hr)
}
