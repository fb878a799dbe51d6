// Package anthropic is the adapter for Anthropic's Messages API. Its base
// URL is the API root as Anthropic documents it (https://api.anthropic.com):
// chat goes to /v1/messages and token counting to /v1/messages/count_tokens,
// authenticated with x-api-key and versioned with anthropic-version.
package anthropic

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	wire "github.com/sluicehq/sluice/internal/apischema/anthropic"
	"github.com/sluicehq/sluice/internal/provider"
)

// DefaultBaseURL is Anthropic's API root.
const DefaultBaseURL = "https://api.anthropic.com"

// DefaultTimeout bounds one attempt when the provider sets none.
const DefaultTimeout = 10 * time.Minute

// Adapter sends Anthropic Messages requests to one account.
type Adapter struct {
	name    string
	base    string
	apiKey  string
	version string // configured anthropic-version, or ""
	headers map[string]string
	timeout time.Duration
	client  *http.Client
	send    provider.Sender // the client, or its Transport directly
}

var _ provider.Adapter = (*Adapter)(nil)

// New returns the adapter for spec. An empty BaseURL is Anthropic's API.
func New(spec provider.Spec) (provider.Adapter, error) {
	base := strings.TrimRight(spec.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("provider %q: base_url %q must be an http(s) URL", spec.Name, spec.BaseURL)
	}
	a := &Adapter{
		name:    spec.Name,
		base:    base,
		apiKey:  spec.APIKey,
		version: spec.APIVersion,
		headers: spec.Headers,
		timeout: spec.Timeout,
		client:  spec.Client,
	}
	if a.timeout <= 0 {
		a.timeout = DefaultTimeout
	}
	if a.client == nil {
		a.client = http.DefaultClient
	}
	a.send = provider.NewSender(a.client)
	return a, nil
}

// Name implements provider.Adapter.
func (a *Adapter) Name() string { return a.name }

// Protocol implements provider.Adapter.
func (a *Adapter) Protocol() provider.Protocol { return provider.ProtocolAnthropic }

// GenAIProviderName is gen_ai.provider.name in the OpenTelemetry GenAI
// conventions.
func (a *Adapter) GenAIProviderName() string { return "anthropic" }

// Timeout implements provider.Adapter.
func (a *Adapter) Timeout() time.Duration { return a.timeout }

// Do implements provider.Adapter. The client's headers are forwarded, its
// anthropic-beta values among them (merged with configured ones);
// anthropic-version is the configured one, else the client's, else
// 2023-06-01. The key (the request's pool key, else the configured one)
// goes in x-api-key.
func (a *Adapter) Do(ctx context.Context, req *provider.Request) (*http.Response, error) {
	var path string
	switch req.Op {
	case provider.OpChat:
		path = "/v1/messages"
	case provider.OpCountTokens:
		path = "/v1/messages/count_tokens"
	default:
		return nil, provider.ErrUnsupported
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(req.Body))
	if err != nil {
		return nil, err
	}
	h := hr.Header
	provider.CopyHeader(h, req.Header)
	clientBeta := h.Values(wire.HeaderBeta)
	for k, v := range a.headers {
		h.Set(k, v)
	}
	if clientBeta != nil {
		h[wire.HeaderBeta] = mergeBeta(clientBeta, h.Values(wire.HeaderBeta))
	}
	h.Set("Content-Type", "application/json")
	if req.Stream && req.Op == provider.OpChat {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	switch {
	case a.version != "":
		h.Set(wire.HeaderVersion, a.version)
	case h.Get(wire.HeaderVersion) == "":
		h.Set(wire.HeaderVersion, wire.DefaultVersion)
	}
	if key := req.KeyOr(a.apiKey); key != "" {
		h.Set(wire.HeaderAPIKey, key)
	}
	return a.send.Do(hr)
}

// mergeBeta joins anthropic-beta values (each may be a comma-separated
// list) without repeats, in first-seen order.
func mergeBeta(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, v := range l {
			for _, b := range strings.Split(v, ",") {
				if b = strings.TrimSpace(b); b != "" && !slices.Contains(out, b) {
					out = append(out, b)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return []string{strings.Join(out, ",")}
}
