package chainbench

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/guard"
)

// fullSet is every built-in guardrail type, as a contract-style list.
var fullSet = []config.Guardrail{
	{Name: "pii", Type: "pii", Action: "mask", On: []string{"input", "output"}},
	{Name: "no-secrets", Type: "regex", Patterns: []string{"sk-[A-Za-z0-9]{20,}"}, Action: "block", On: []string{"input"}},
	{Name: "injection", Type: "injection", Action: "log", On: []string{"input"}},
	{Name: "words", Type: "words", Words: []string{"frobnicate", "confidential-codename"}, Action: "mask", On: []string{"input", "output"}},
	{Name: "size", Type: "max_size", MaxBytes: 1 << 20, Action: "block", On: []string{"input"}},
}

// BenchmarkGuardrails8KiB sends an 8 KiB prompt (with an email and a card
// number every ~110 bytes) through the full guardrail set, input and
// output, against the same request without guardrails.
func BenchmarkGuardrails8KiB(b *testing.B) {
	for _, tc := range []struct {
		name  string
		model string
	}{{"off", "plain"}, {"full-set", "guarded"}} {
		b.Run(tc.name, func(b *testing.B) {
			srv := gateway(b, func(f *config.File) {
				f.Guardrails = fullSet
				f.Models = append(f.Models, config.Model{Name: "guarded", Targets: []config.Target{{Provider: "up", Model: "m"}},
					Guardrails: []string{"pii", "no-secrets", "injection", "words", "size"}})
			})
			drive(b, srv, chatBody(tc.model, 8<<10), nil, "")
		})
	}
}

// BenchmarkGuardEngine8KiB is the engine alone: the full set applied to
// one 8 KiB text, on one goroutine, with its p99.
func BenchmarkGuardEngine8KiB(b *testing.B) {
	var gs []*guard.Guard
	for _, g := range fullSet {
		x, err := guard.Compile(g.Spec())
		if err != nil {
			b.Fatal(err)
		}
		gs = append(gs, x)
	}
	set := guard.NewSet(guard.Input, gs...)
	body := chatBody("x", 8<<10)
	text := body[strings.Index(body, `"content":"`)+11:]
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		set.Apply(text, guard.NewMasker())
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkCache compares a cache hit with a miss (Cache-Control: no-cache
// skips the lookup and goes upstream) on the same 8 KiB request.
func BenchmarkCache(b *testing.B) {
	for _, tc := range []struct {
		name, control, want string
	}{{"miss", "no-cache", "miss"}, {"hit", "", "hit"}} {
		b.Run(tc.name, func(b *testing.B) {
			srv := gateway(b, func(f *config.File) {
				f.Models = append(f.Models, config.Model{Name: "cached", Targets: []config.Target{{Provider: "up", Model: "m"}},
					Cache: &config.ModelCache{Mode: "exact"}})
			})
			body := chatBody("cached", 8<<10)
			hdr := map[string]string{}
			if tc.control != "" {
				hdr["Cache-Control"] = tc.control
			}
			drive(b, srv, body, hdr, tc.want)
		})
	}
}
