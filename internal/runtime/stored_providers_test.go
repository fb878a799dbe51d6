package runtime

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/provider"
)

type stubAdapter struct{ spec provider.Spec }

func (a stubAdapter) Name() string                { return a.spec.Name }
func (a stubAdapter) Protocol() provider.Protocol { return provider.ProtocolOpenAI }
func (a stubAdapter) Timeout() time.Duration      { return a.spec.Timeout }
func (a stubAdapter) Do(context.Context, *provider.Request) (*http.Response, error) {
	return nil, provider.ErrUnsupported
}

func stubInputs(f *config.File, stored ...config.Provider) Inputs {
	return Inputs{File: f, StoredProviders: stored,
		Registry: provider.Registry{"openai": func(s provider.Spec) (provider.Adapter, error) { return stubAdapter{s}, nil }},
		Provider: func(p config.Provider) provider.Spec {
			return provider.Spec{Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIKey: p.APIKey}
		},
	}
}

func TestStoredProvidersJoinTheSnapshot(t *testing.T) {
	f := &config.File{Version: 1,
		Providers: []config.Provider{{Name: "file-p", Type: "openai", BaseURL: "https://a.example/v1"}},
		Models: []config.Model{{Name: "m", Targets: []config.Target{
			{Provider: "stored-p", Model: "up-1"}, {Provider: "file-p", Model: "up-2"}}}},
	}
	stored := config.Provider{Name: "stored-p", Type: "openai", BaseURL: "https://b.example/v1", APIKey: "sk-stored"}
	s, err := Compile(stubInputs(f, stored))
	if err != nil {
		t.Fatal(err)
	}
	if s.Providers["file-p"] != "config" || s.Providers["stored-p"] != "api" || len(s.Providers) != 2 {
		t.Fatalf("Providers = %v", s.Providers)
	}
	tg := s.Models["m"].Default.Targets[0]
	a := tg.Provider.(stubAdapter)
	if a.spec.Name != "stored-p" || a.spec.APIKey != "sk-stored" || tg.Timeouts.Total != DefaultTotal {
		t.Fatalf("stored target built from %+v, timeouts %+v", a.spec, tg.Timeouts)
	}

	// Without the stored provider the model's target dangles.
	if _, err := Compile(stubInputs(f)); err == nil || !strings.Contains(err.Error(), `no provider "stored-p"`) {
		t.Fatalf("missing stored provider: %v", err)
	}
	// A stored provider may not take a file provider's name.
	clash := stored
	clash.Name = "file-p"
	if _, err := Compile(stubInputs(f, stored, clash)); err == nil || !strings.Contains(err.Error(), `"file-p"`) {
		t.Fatalf("name clash: %v", err)
	}
}
