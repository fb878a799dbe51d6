package proxy

import (
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/provider"
)

func TestBundleExhausted(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	tests := []struct {
		name   string
		proto  provider.Protocol
		header http.Header
		want   time.Time // zero: the key does not rest
	}{
		{"openai, none left", provider.ProtocolOpenAI,
			h("X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "1m30s"), now.Add(90 * time.Second)},
		{"openai, reset capped", provider.ProtocolOpenAI,
			h("X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "2h"), now.Add(10 * time.Minute)},
		{"openai, some left", provider.ProtocolOpenAI,
			h("X-Ratelimit-Remaining-Requests", "1", "X-Ratelimit-Reset-Requests", "1m"), time.Time{}},
		{"openai, no reset", provider.ProtocolOpenAI, h("X-Ratelimit-Remaining-Requests", "0"), time.Time{}},
		{"anthropic, none left", provider.ProtocolAnthropic,
			h("Anthropic-Ratelimit-Requests-Remaining", "0", "Anthropic-Ratelimit-Requests-Reset", now.Add(time.Minute).Format(time.RFC3339)),
			now.Add(time.Minute)},
		{"anthropic, reset capped", provider.ProtocolAnthropic,
			h("Anthropic-Ratelimit-Requests-Remaining", "0", "Anthropic-Ratelimit-Requests-Reset", now.Add(time.Hour).Format(time.RFC3339)),
			now.Add(10 * time.Minute)},
		{"anthropic, reset past", provider.ProtocolAnthropic,
			h("Anthropic-Ratelimit-Requests-Remaining", "0", "Anthropic-Ratelimit-Requests-Reset", now.Add(-time.Minute).Format(time.RFC3339)),
			time.Time{}},
		{"anthropic headers from an openai upstream", provider.ProtocolOpenAI,
			h("Anthropic-Ratelimit-Requests-Remaining", "0", "Anthropic-Ratelimit-Requests-Reset", now.Add(time.Minute).Format(time.RFC3339)),
			time.Time{}},
		{"gemini reads none", provider.ProtocolGemini,
			h("X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "1m"), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got time.Time
			if ex := bundles[tt.proto].exhausted; ex != nil {
				if until, ok := ex(tt.header, now); ok {
					got = until
				}
			}
			if !got.Equal(tt.want) {
				t.Errorf("rests until %v, want %v", got, tt.want)
			}
		})
	}
}
