// Package gemini is the adapter for Google's Gemini API (AI Studio, the
// Developer API at generativelanguage.googleapis.com). It sends request
// bodies already in the Gemini protocol (see internal/protocol/gemini) to
// models/{model}:generateContent, :streamGenerateContent?alt=sse and
// :countTokens, with the API key in the x-goog-api-key header: never in
// the URL, which ends up in error messages and logs.
package gemini

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/provider"
)

// DefaultBaseURL is the API root used when the provider sets none.
const DefaultBaseURL = "https://generativelanguage.googleapis.com"

// DefaultAPIVersion is the API version in the path when the provider's
// base URL or api_version names none.
const DefaultAPIVersion = "v1beta"

// DefaultTimeout bounds one attempt when the provider sets none.
const DefaultTimeout = 10 * time.Minute

// Adapter sends Gemini-protocol requests to one API root.
type Adapter struct {
	name    string
	base    string // the API root with its version, such as https://generativelanguage.googleapis.com/v1beta
	key     string
	headers map[string]string
	timeout time.Duration
	client  *http.Client
	send    provider.Sender // the client, or its Transport directly
}

var _ provider.Adapter = (*Adapter)(nil)

// New returns an adapter for spec. spec.BaseURL is the API root
// (https://generativelanguage.googleapis.com when empty); a root that
// already ends in a version (/v1beta, /v1, /v1alpha) keeps it, otherwise
// spec.APIVersion (v1beta when empty) is added.
func New(spec provider.Spec) (provider.Adapter, error) {
	base := strings.TrimRight(spec.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("provider %q: base_url %q is not an http(s) URL", spec.Name, spec.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("provider %q: base_url must not have a query or fragment", spec.Name)
	}
	if !hasVersion(base) {
		v := strings.Trim(spec.APIVersion, "/")
		if v == "" {
			v = DefaultAPIVersion
		}
		base += "/" + v
	}
	a := &Adapter{
		name:    spec.Name,
		base:    base,
		key:     spec.APIKey,
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

// hasVersion reports whether base ends in an API version segment.
func hasVersion(base string) bool {
	i := strings.LastIndexByte(base, '/')
	last := base[i+1:]
	if len(last) < 2 || last[0] != 'v' || last[1] < '0' || last[1] > '9' {
		return false
	}
	rest := strings.TrimLeft(last[1:], "0123456789")
	return rest == "" || rest == "beta" || rest == "alpha"
}

// Name implements provider.Adapter.
func (a *Adapter) Name() string { return a.name }

// Protocol implements provider.Adapter.
func (a *Adapter) Protocol() provider.Protocol { return provider.ProtocolGemini }

// GenAIProviderName is gen_ai.provider.name in the OpenTelemetry GenAI
// conventions: gcp.vertex_ai when the API root is Vertex AI's
// (*aiplatform.googleapis.com), gcp.gemini otherwise.
func (a *Adapter) GenAIProviderName() string {
	if u, err := url.Parse(a.base); err == nil && strings.HasSuffix(u.Hostname(), "aiplatform.googleapis.com") {
		return "gcp.vertex_ai"
	}
	return "gcp.gemini"
}

// Timeout implements provider.Adapter.
func (a *Adapter) Timeout() time.Duration { return a.timeout }

// errNoModel is returned by Do for a request that names no model.
var errNoModel = errors.New("gemini: no model for the request URL")

// URL returns the endpoint of op for model, and whether the provider has
// it. It holds no credential.
func (a *Adapter) URL(op provider.Operation, model string, stream bool) (string, bool) {
	var method string
	switch {
	case op == provider.OpChat && stream:
		method = ":streamGenerateContent?alt=sse"
	case op == provider.OpChat:
		method = ":generateContent"
	case op == provider.OpCountTokens:
		method = ":countTokens"
	default:
		return "", false
	}
	return a.base + "/" + modelPath(model) + method, true
}

// modelPath is the path of a model resource: "models/{model}", or a tuned
// model's "tunedModels/{id}". The name is escaped so that it can never
// change the path or the method (":" and "/" included).
func modelPath(model string) string {
	collection := "models"
	if rest, ok := strings.CutPrefix(model, "tunedModels/"); ok {
		collection, model = "tunedModels", rest
	} else {
		model = strings.TrimPrefix(model, "models/")
	}
	esc := url.PathEscape(model)
	esc = strings.ReplaceAll(esc, ":", "%3A")
	return collection + "/" + esc
}

// Do implements provider.Adapter. The key (the request's pool key, else
// the configured one) goes in x-goog-api-key.
func (a *Adapter) Do(ctx context.Context, req *provider.Request) (*http.Response, error) {
	if strings.TrimPrefix(strings.TrimPrefix(req.Model, "models/"), "tunedModels/") == "" {
		return nil, errNoModel
	}
	u, ok := a.URL(req.Op, req.Model, req.Stream)
	if !ok {
		return nil, provider.ErrUnsupported
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(req.Body))
	if err != nil {
		return nil, err
	}
	h := hr.Header
	provider.CopyHeader(h, req.Header)
	h.Set("Content-Type", "application/json")
	if req.Stream && req.Op == provider.OpChat {
		h.Set("Accept", "text/event-stream")
	} else if h.Get("Accept") == "" {
		h.Set("Accept", "application/json")
	}
	for k, v := range a.headers {
		h.Set(k, v)
	}
	if key := req.KeyOr(a.key); key != "" {
		h.Set("X-Goog-Api-Key", key)
	}
	return a.send.Do(hr)
}
