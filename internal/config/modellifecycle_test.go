package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// modelLifecycleFile retires a model as the documentation shows.
const modelLifecycleFile = `
version: 1
providers: [{name: demo, type: demo}]
models:
  - name: chat-2024
    targets: [{provider: demo, model: demo-chat}]
    deprecated_at: 2026-12-01T00:00:00Z
    sunset_at: 2027-03-01T00:00:00Z
    successor: chat-2025
    deprecation_link: https://example.com/models/chat-2024
    on_sunset: redirect
  - name: chat-2025
    targets: [{provider: demo, model: demo-chat}]
`

func TestModelLifecycleParse(t *testing.T) {
	f, err := Parse([]byte(modelLifecycleFile), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	l := f.Models[0].ModelLifecycle
	if !l.DeprecatedAt.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) || !l.SunsetAt.Equal(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)) ||
		l.Successor != "chat-2025" || l.OnSunset != "redirect" || l.DeprecationLink != "https://example.com/models/chat-2024" {
		t.Fatalf("decoded %+v", l)
	}
	if f.Models[1].Retiring() {
		t.Fatalf("chat-2025 retiring: %+v", f.Models[1].ModelLifecycle)
	}
}

func TestModelLifecycleProblems(t *testing.T) {
	tests := []struct{ old, new, path string }{
		{"sunset_at: 2027-03-01T00:00:00Z", "sunset_at: 2026-11-30T00:00:00Z", "models[0].sunset_at"},
		{"successor: chat-2025", "successor: chat-2099", "models[0].successor"},
		{"successor: chat-2025", "successor: chat-2024", "models[0].successor"},
		{"on_sunset: redirect", "on_sunset: forward", "models[0].on_sunset"},
		{"    successor: chat-2025\n", "", "models[0].on_sunset"},
		{"deprecation_link: https://example.com/models/chat-2024", "deprecation_link: example.com", "models[0].deprecation_link"},
		{"    deprecated_at: 2026-12-01T00:00:00Z\n    sunset_at: 2027-03-01T00:00:00Z\n", "", "models[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.new, func(t *testing.T) {
			src := strings.Replace(modelLifecycleFile, tt.old, tt.new, 1)
			if src == modelLifecycleFile {
				t.Fatalf("%q not found", tt.old)
			}
			_, err := Parse([]byte(src), env(nil))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want problems, got %v", err)
			}
			for _, p := range ps {
				if p.Path == tt.path {
					return
				}
			}
			t.Fatalf("want a problem at %s, got %v", tt.path, ps)
		})
	}
}
