package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
)

// BenchmarkGovernedRequest compares a request with no limits to one whose
// key, application, team and organisation each have rpm, tpm and a budget
// (go test -bench Governed -cpuprofile ...).
func BenchmarkGovernedRequest(b *testing.B) {
	for _, tc := range []struct{ name, key string }{{"plain", clientKey}, {"governed", webKey1}} {
		b.Run(tc.name, func(b *testing.B) {
			e := newEnv(b, func(f *config.File) {
				lim := config.Limits{RPM: 1e9, TPM: 1e12, Budget: &config.Budget{AmountUSD: 1e9}}
				f.Orgs = []config.Org{{Name: "acme", Limits: lim, Teams: []config.Team{{Name: "search", Limits: lim,
					Applications: []config.App{{Name: "web", Limits: lim}}}}}}
				f.Keys = append(f.Keys, config.Key{Name: "web1", Key: webKey1, Application: "acme/search/web", Limits: lim})
			})
			client := e.server.Client()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, e.server.URL+"/v1/chat/completions", strings.NewReader(chatBody))
					req.Header.Set("Authorization", "Bearer "+tc.key)
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
