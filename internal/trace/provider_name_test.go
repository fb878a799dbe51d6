package trace

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/provider/anthropic"
	"github.com/sluicehq/sluice/internal/provider/azure"
	"github.com/sluicehq/sluice/internal/provider/bedrock"
	"github.com/sluicehq/sluice/internal/provider/gemini"
	"github.com/sluicehq/sluice/internal/provider/openai"
)

// TestProviderNameFromProviderType sends one request per kind of upstream
// through a Tracer exporting to a real OTLP receiver and checks
// gen_ai.provider.name on the attempt and the server span: the well-known
// value of the provider's type in the OpenTelemetry GenAI conventions,
// not of the protocol it speaks (Azure OpenAI speaks OpenAI's).
func TestProviderNameFromProviderType(t *testing.T) {
	must := func(a provider.Adapter, err error) provider.Adapter {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tc := range []struct {
		name    string
		adapter provider.Adapter
		want    string
	}{
		{"openai", openai.New(openai.Options{Name: "oai", BaseURL: "https://api.openai.com/v1"}), "openai"},
		{"azure", must(azure.New(provider.Spec{Name: "az", Type: "azure", BaseURL: "https://res.openai.azure.com"})), "azure.ai.openai"},
		{"anthropic", must(anthropic.New(provider.Spec{Name: "an", Type: "anthropic"})), "anthropic"},
		{"gemini", must(gemini.New(provider.Spec{Name: "gm", Type: "gemini"})), "gcp.gemini"},
		{"gemini on vertex ai", must(gemini.New(provider.Spec{Name: "vx", Type: "gemini",
			BaseURL: "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/google"})), "gcp.vertex_ai"},
		{"bedrock", must(bedrock.New(provider.Spec{Name: "br", Type: "bedrock", Region: "us-east-1",
			AWSAccessKeyID: "AKIDEXAMPLE", AWSSecretAccessKey: "secret"})), "aws.bedrock"},
		{"an adapter naming none: its protocol's", bareAdapter{}, "aws.bedrock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, endpoint := startReceiver(t, config.OTLPHTTP)
			tr, err := New(t.Context(), &config.OTLP{Endpoint: endpoint}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			ctx, q := tr.StartRequest(httptest.NewRequest("POST", "/v1/chat/completions", nil), "POST /v1/chat/completions")
			a := StartAttempt(ctx, 1, tc.adapter.Name(), ProviderName(tc.adapter), "up-model", "chat")
			entry := &ledger.Entry{RequestID: "req_1", Endpoint: "chat.completions", Model: "smart", Status: ledger.StatusOK, HTTPStatus: 200}
			a.End(ledger.Attempt{N: 1, Provider: tc.adapter.Name(), Model: "up-model", Status: ledger.StatusOK, HTTPStatus: 200}, entry)
			q.End(entry, "", nil)
			if err := tr.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			spans := rc.got()
			if len(spans) != 2 {
				t.Fatalf("receiver got %d spans, want 2", len(spans))
			}
			for _, s := range spans {
				checkAttrs(t, s.GetName(), s, map[string]any{"gen_ai.provider.name": tc.want})
			}
		})
	}
}

// bareAdapter names no gen_ai.provider.name of its own.
type bareAdapter struct{}

func (bareAdapter) Name() string                { return "bare" }
func (bareAdapter) Protocol() provider.Protocol { return provider.ProtocolBedrock }
func (bareAdapter) Timeout() time.Duration      { return time.Second }
func (bareAdapter) Do(context.Context, *provider.Request) (*http.Response, error) {
	return nil, provider.ErrUnsupported
}
