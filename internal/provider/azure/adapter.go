// Package azure is the adapter for Azure OpenAI. It speaks the OpenAI
// protocol (provider.ProtocolOpenAI), so requests and streams are forwarded
// byte for byte or translated by the OpenAI codecs; what differs is the URL
// and the credential header.
//
// base_url is the resource root, such as https://my-resource.openai.azure.com
// (a trailing /openai or /openai/v1 is tolerated), and the configured
// upstream model is the deployment name:
//
//	chat        POST {base}/openai/deployments/{deployment}/chat/completions?api-version={v}
//	embeddings  POST {base}/openai/deployments/{deployment}/embeddings?api-version={v}
//	responses   POST {base}/openai/v1/responses  (the v1 API; the body's model is the deployment)
//
// v is the provider's api_version, DefaultAPIVersion when unset. With
// api_version "v1", chat and embeddings use the v1 API too
// ({base}/openai/v1/chat/completions, /openai/v1/embeddings), which takes the
// deployment from the body's model. The key goes in the api-key header; a
// provider configured without a key may send its own Authorization header
// (a Microsoft Entra ID token) through headers.
package azure

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/provider"
)

// DefaultAPIVersion is the api-version of chat and embeddings requests when
// the provider sets none: the latest generally available one.
const DefaultAPIVersion = "2024-10-21"

// DefaultTimeout bounds one attempt when the provider sets none.
const DefaultTimeout = 10 * time.Minute

// Adapter sends OpenAI-protocol requests to one Azure OpenAI resource. It is
// safe for concurrent use.
type Adapter struct {
	name    string
	base    string // the resource root, without a trailing slash
	key     string
	version string
	headers map[string]string
	timeout time.Duration
	client  *http.Client
	send    provider.Sender // the client, or its Transport directly
}

var _ provider.Adapter = (*Adapter)(nil)

// New returns an adapter for spec.
func New(spec provider.Spec) (provider.Adapter, error) {
	u, err := url.Parse(spec.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("provider %q: base_url %q must be an absolute http(s) URL of the Azure OpenAI resource", spec.Name, spec.BaseURL)
	}
	base := strings.TrimRight(spec.BaseURL, "/")
	base = strings.TrimSuffix(base, "/openai/v1")
	base = strings.TrimSuffix(base, "/openai")
	a := &Adapter{
		name:    spec.Name,
		base:    base,
		key:     spec.APIKey,
		version: spec.APIVersion,
		headers: spec.Headers,
		timeout: spec.Timeout,
		client:  spec.Client,
	}
	if a.version == "" {
		a.version = DefaultAPIVersion
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
func (a *Adapter) Protocol() provider.Protocol { return provider.ProtocolOpenAI }

// GenAIProviderName is gen_ai.provider.name in the OpenTelemetry GenAI
// conventions: Azure OpenAI, whatever protocol it speaks.
func (a *Adapter) GenAIProviderName() string { return "azure.ai.openai" }

// Timeout implements provider.Adapter.
func (a *Adapter) Timeout() time.Duration { return a.timeout }

// URL returns the endpoint of op for the deployment; it is exported for
// tests and diagnostics.
func (a *Adapter) URL(op provider.Operation, deployment string) (string, error) {
	var endpoint string
	switch op {
	case provider.OpChat:
		endpoint = "chat/completions"
	case provider.OpEmbeddings:
		endpoint = "embeddings"
	case provider.OpResponses:
		return a.base + "/openai/v1/responses", nil
	default:
		return "", provider.ErrUnsupported
	}
	if a.version == "v1" {
		return a.base + "/openai/v1/" + endpoint, nil
	}
	if deployment == "" {
		return "", fmt.Errorf("azure provider %q: no deployment (the upstream model) for %s", a.name, op)
	}
	return a.base + "/openai/deployments/" + url.PathEscape(deployment) + "/" + endpoint +
		"?api-version=" + url.QueryEscape(a.version), nil
}

// Do implements provider.Adapter. The key (the request's pool key, else
// the configured one) goes in api-key.
func (a *Adapter) Do(ctx context.Context, req *provider.Request) (*http.Response, error) {
	target, err := a.URL(req.Op, req.Model)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(req.Body))
	if err != nil {
		return nil, err
	}
	h := hr.Header
	provider.CopyHeader(h, req.Header)
	h.Set("Content-Type", "application/json")
	if req.Stream {
		h.Set("Accept", "text/event-stream")
	} else if h.Get("Accept") == "" {
		h.Set("Accept", "application/json")
	}
	for k, v := range a.headers {
		h.Set(k, v)
	}
	if key := req.KeyOr(a.key); key != "" {
		h.Set("Api-Key", key)
	}
	return a.send.Do(hr)
}
