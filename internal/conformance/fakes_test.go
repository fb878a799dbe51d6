package conformance

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
)

// startFakes starts one fake per provider type and returns the config
// entries that point at them.
func startFakes(t *testing.T) []fakeProvider {
	t.Helper()
	var out []fakeProvider

	_, oaURL := openaifake.Start(t, openaifake.Options{APIKey: providerKey})
	out = append(out, fakeProvider{"openai", fmt.Sprintf("  - {name: p-openai, type: openai, base_url: %q, api_key: %s}\n", oaURL, providerKey)})

	// Azure OpenAI: the OpenAI fake behind Azure's URL scheme and api-key header.
	az := openaifake.New(openaifake.Options{APIKey: providerKey})
	azSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/openai/deployments/my-deployment/")
		versioned := ok && r.URL.Query().Get("api-version") != ""
		if r.URL.Path == "/openai/v1/responses" { // Azure's v1 API: the deployment is the body's model
			rest, versioned = "responses", true
		}
		if !versioned || r.Header.Get("Api-Key") != providerKey || r.Header.Get("Authorization") != "" {
			http.Error(w, `{"error":{"code":"404","message":"Resource not found"}}`, http.StatusNotFound)
			return
		}
		r.URL.Path = "/v1/" + rest
		r.URL.RawQuery = ""
		r.Header.Set("Authorization", "Bearer "+providerKey)
		az.ServeHTTP(w, r)
	}))
	t.Cleanup(azSrv.Close)
	t.Cleanup(az.Close)
	out = append(out, fakeProvider{"azure-openai", fmt.Sprintf("  - {name: p-azure-openai, type: azure-openai, base_url: %q, api_key: %s}\n", azSrv.URL, providerKey)})

	out = append(out, otherFakes(t)...)
	return out
}
