package config

import (
	"strings"
	"testing"
)

// inject_stream_usage is an OpenAI-protocol setting: it is refused on
// providers of other types.
func TestInjectStreamUsageOnlyForOpenAITypes(t *testing.T) {
	off := false
	tests := []struct {
		typ     string
		wantErr bool
	}{
		{TypeOpenAI, false},
		{TypeAzureOpenAI, false},
		{TypeAnthropic, true},
		{TypeGemini, true},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			f := &File{Version: 1, Providers: []Provider{{Name: "p", Type: tc.typ, BaseURL: "https://example.com", APIKey: "k", InjectStreamUsage: &off}}}
			err := f.Validate()
			if got := err != nil && strings.Contains(err.Error(), "inject_stream_usage"); got != tc.wantErr {
				t.Fatalf("Validate() = %v, want an inject_stream_usage error: %v", err, tc.wantErr)
			}
		})
	}
}
