package config

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

const good = `
version: 1
providers:
  - name: local-vllm
    type: openai
    base_url: http://127.0.0.1:8000/v1
    api_key: ${VLLM_API_KEY}
    timeouts: {total: 2m, first_byte: 10s}
models:
  - name: chat-small
    targets:
      - {provider: local-vllm, model: Qwen/Qwen2.5-7B-Instruct}
    pricing: {input_per_mtok: 0.15, output_per_mtok: 0.60, cached_input_per_mtok: 0.075}
keys:
  - name: dev
    key: ${SLUICE_DEV_KEY}
    models: [chat-small]
`

func TestParseGood(t *testing.T) {
	f, err := Parse([]byte(good), env(map[string]string{"VLLM_API_KEY": "sk-vllm", "SLUICE_DEV_KEY": "gw-dev-0123456789abcdef"}))
	if err != nil {
		t.Fatal(err)
	}
	if f.Providers[0].APIKey != "sk-vllm" || f.Keys[0].Key != "gw-dev-0123456789abcdef" || f.Models[0].Pricing.CachedInputPerMTok != 0.075 {
		t.Fatalf("decoded %+v", f)
	}
	if f.Providers[0].Timeouts.Total != Duration(2*time.Minute) || f.Providers[0].Timeouts.FirstByte != Duration(10*time.Second) {
		t.Fatal("timeout not decoded")
	}
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string // each must appear in the error
	}{
		{"empty", ``, nil, []string{"empty"}},
		{"not yaml", "version: [", nil, []string{"not valid YAML"}},
		{"missing version", "providers: []", nil, []string{"version: missing"}},
		{"future version", "version: 2", nil, []string{"version: unsupported version 2"}},
		{"unknown fields with paths", "version: 1\nproviders:\n  - name: a\n    type: openai\n    base_url: http://x/v1\n    bse_url: y\nmodels: []\nextra: 1\n",
			nil, []string{"providers[0].bse_url (line 6): unknown field", "extra (line 8): unknown field"}},
		{"unset env", "version: 1\nproviders:\n  - {name: a, type: openai, base_url: 'http://x/v1', api_key: '${NOPE}'}\n", nil,
			[]string{"providers[0].api_key (line 3): environment variable NOPE is not set"}},
		{"env default", "version: 1\nproviders:\n  - {name: a, type: openai, base_url: '${URL:-http://x/v1}'}\n", nil, nil},
		{"dangling provider and bad values", `
version: 1
providers:
  - {name: a, type: openai, base_url: "ftp://x"}
  - {name: a, type: magic}
models:
  - name: m
    targets: [{provider: nope, model: x}, {provider: a}]
    pricing: {input_per_mtok: -1}
  - {name: m, targets: []}
keys:
  - {name: k, key: short, models: [zzz]}
`, nil, []string{
			"providers[0].base_url: must be an absolute http:// or https:// URL",
			"providers[1].name: duplicate provider name",
			"providers[1].type: unknown provider type \"magic\"",
			"models[0].targets[0].provider: no provider named \"nope\"",
			"models[0].targets[1].model: required",
			"models[0].pricing.input_per_mtok: must be between",
			"models[1].name: duplicate model name",
			"models[1].targets: at least one target",
			"keys[0].key: must be at least 16 characters",
			"keys[0].models[0]: no model named \"zzz\"",
		}},
		{"wrong type", "version: 1\nmodels:\n  - name: m\n    targets: [{provider: a, model: b}]\n    pricing: {input_per_mtok: cheap}\n", nil, []string{"cannot unmarshal"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), env(tc.env))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error %v is not Problems", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestEnvValuesAreNotYAML checks that an interpolated value cannot inject
// configuration: it is substituted into a scalar after parsing.
func TestEnvValuesAreNotYAML(t *testing.T) {
	f, err := Parse([]byte(good), env(map[string]string{"VLLM_API_KEY": "x\nkeys: []", "SLUICE_DEV_KEY": "gw-dev-0123456789abcdef"}))
	if err == nil {
		t.Fatalf("a key with a newline was accepted: %+v", f)
	}
	if !strings.Contains(err.Error(), "providers[0].api_key: must not contain control characters") {
		t.Fatalf("unexpected error: %v", err)
	}
}

// TestReadmeConfig loads the example configuration shown in README.md.
func TestReadmeConfig(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(version: 1.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no ```yaml block starting with version: 1")
	}
	_, err = Parse(m[1], env(map[string]string{"VLLM_API_KEY": "sk-x", "SLUICE_DEV_KEY": "gw-dev-0123456789abcdef"}))
	if err != nil {
		t.Fatalf("README example config: %v", err)
	}
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("version: 1\nproviders: [{name: a, type: demo}]\n"))
	f.Add([]byte("version: 1\nkeys: [{name: k, key: '${X:-0123456789abcdefgh}'}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data, env(map[string]string{"VLLM_API_KEY": "k", "SLUICE_DEV_KEY": "gw-dev-0123456789abcdef"}))
		if err == nil && file.Validate() != nil {
			t.Fatal("Parse accepted a file that Validate rejects")
		}
	})
}
