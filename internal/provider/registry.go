package provider

import (
	"fmt"
	"net/http"
	"time"
)

// Spec is what a factory needs to build an adapter: the provider's config
// and the process-wide HTTP client.
type Spec struct {
	Name    string
	Type    string
	BaseURL string
	APIKey  string
	Headers map[string]string
	Timeout time.Duration
	Client  *http.Client

	// APIVersion: Azure's api-version, or Anthropic's anthropic-version.
	APIVersion string
	// Region and AWS credentials, for Bedrock.
	Region             string
	AWSAccessKeyID     string
	AWSSecretAccessKey string
	AWSSessionToken    string
}

// Factory builds an adapter from its spec.
type Factory func(Spec) (Adapter, error)

// Registry maps config provider types to factories. It is filled once at
// start (see internal/app) and read-only afterwards.
type Registry map[string]Factory

// Build returns the adapter for spec.
func (r Registry) Build(spec Spec) (Adapter, error) {
	f, ok := r[spec.Type]
	if !ok {
		return nil, fmt.Errorf("provider %q: unknown type %q", spec.Name, spec.Type)
	}
	return f(spec)
}
