package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
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
		{"second document", "version: 1\n---\nkeys: []\n", nil, []string{"(line 2): a second YAML document"}},
		{"broken second document", "version: 1\n---\n]\n", nil, []string{"(line 3): not valid YAML"}},
		{"only comments", "# nothing\n", nil, []string{"empty"}},
		{"missing version", "providers: []", nil, []string{"version: missing"}},
		{"future version", "version: 2", nil, []string{"version: unsupported version 2"}},
		{"unknown fields with paths", "version: 1\nproviders:\n  - name: a\n    type: openai\n    base_url: http://x/v1\n    bse_url: y\nmodels: []\nextra: 1\n",
			nil, []string{"providers[0].bse_url (line 6): unknown field", "extra (line 8): unknown field"}},
		{"unset env", "version: 1\nproviders:\n  - {name: a, type: openai, base_url: 'http://x/v1', api_key: '${NOPE}'}\n", nil,
			[]string{"providers[0].api_key (line 3): environment variable NOPE is not set"}},
		{"env default", "version: 1\nproviders:\n  - {name: a, type: openai, base_url: '${URL:-http://x/v1}'}\n", nil, nil},
		{"bedrock with a pool of API keys", "version: 1\nproviders:\n  - {name: b, type: bedrock, region: us-east-1, api_keys: [k1, k2]}\n", nil, nil},
		{"bedrock with AWS keys and a pool", "version: 1\nproviders:\n  - {name: b, type: bedrock, region: us-east-1, aws_access_key_id: A, aws_secret_access_key: S, api_keys: [k1]}\n", nil,
			[]string{"providers[0].api_keys: give AWS keys or a pool of Bedrock API keys, not both"}},
		{"bedrock without credentials", "version: 1\nproviders:\n  - {name: b, type: bedrock, region: us-east-1}\n", nil,
			[]string{"providers[0].aws_access_key_id: required for type bedrock"}},
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

// docHeader declares what the documentation's fragments refer to; a
// fragment's own declarations replace those of the same name.
const docHeader = `version: 1
providers:
  - {name: openai, type: demo}
  - {name: azure, type: demo}
  - {name: claude, type: demo}
  - {name: google, type: demo}
models:
  - {name: chat, targets: [{provider: openai, model: m}]}
  - {name: smart, targets: [{provider: openai, model: m}]}
orgs:
  - name: acme
    teams: [{name: search, applications: [{name: web}]}]
`

// docBlock is one fenced YAML block of the documentation.
type docBlock struct {
	where string // file:line of its first line
	body  []byte
}

var fence = regexp.MustCompile("(?ms)^([ \t]*)```ya?ml[ \t]*\n(.*?)^[ \t]*```[ \t]*$")

// docBlocks returns every ```yaml block in README.md and docs/*.md.
func docBlocks(t *testing.T) []docBlock {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []docBlock
	for _, f := range append([]string{"../../README.md"}, files...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fence.FindAllSubmatchIndex(data, -1) {
			indent := string(data[m[2]:m[3]])
			var body strings.Builder
			for _, l := range strings.SplitAfter(string(data[m[4]:m[5]]), "\n") {
				body.WriteString(strings.TrimPrefix(l, indent))
			}
			line := bytes.Count(data[:m[4]], []byte("\n")) + 1
			out = append(out, docBlock{where: fmt.Sprintf("%s:%d", strings.TrimPrefix(f, "../../"), line), body: []byte(body.String())})
		}
	}
	return out
}

// withHeader makes a whole file of a fragment: docHeader, with each of
// the fragment's top-level sections added (lists, replacing items of the
// same name) or set (anything else).
func withHeader(t *testing.T, fragment []byte) []byte {
	t.Helper()
	var head, frag yaml.Node
	if err := yaml.Unmarshal([]byte(docHeader), &head); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(fragment, &frag); err != nil || len(frag.Content) == 0 || frag.Content[0].Kind != yaml.MappingNode {
		return fragment // not a mapping: Parse reports it as it is
	}
	root, add := head.Content[0], frag.Content[0]
	name := func(n *yaml.Node) string {
		for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "name" {
				return n.Content[i+1].Value
			}
		}
		return ""
	}
	for i := 0; i+1 < len(add.Content); i += 2 {
		k, v := add.Content[i], add.Content[i+1]
		j := 0
		for ; j+1 < len(root.Content) && root.Content[j].Value != k.Value; j += 2 {
		}
		if j+1 >= len(root.Content) {
			root.Content = append(root.Content, k, v)
			continue
		}
		if old := root.Content[j+1]; old.Kind == yaml.SequenceNode && v.Kind == yaml.SequenceNode {
			mine := map[string]bool{}
			for _, it := range v.Content {
				mine[name(it)] = true
			}
			kept := old.Content[:0]
			for _, it := range old.Content {
				if !mine[name(it)] {
					kept = append(kept, it)
				}
			}
			old.Content = append(kept, v.Content...)
			continue
		}
		root.Content[j+1] = v
	}
	out, err := yaml.Marshal(&head)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDocExamples loads every YAML block in README.md and docs/*.md. A
// block with a top-level version: is a whole file and loads as it is; any
// other is a fragment and loads inside docHeader. A block whose first line
// is "# invalid: why" shows a mistake and must fail. Every ${VAR} is set.
func TestDocExamples(t *testing.T) {
	anyEnv := func(name string) (string, bool) { return "env-" + strings.ToLower(name) + "-0123456789abcdef", true }
	blocks := docBlocks(t)
	if len(blocks) < 8 {
		t.Fatalf("found %d YAML blocks in README.md and docs/*.md; the fence pattern is broken", len(blocks))
	}
	whole := 0
	for _, b := range blocks {
		t.Run(b.where, func(t *testing.T) {
			data := b.body
			if !regexp.MustCompile(`(?m)^version:`).Match(data) {
				data = withHeader(t, data)
			} else {
				whole++
			}
			_, err := Parse(data, anyEnv)
			if bytes.HasPrefix(b.body, []byte("# invalid:")) {
				if err == nil {
					t.Fatalf("%s is marked invalid but loads:\n%s", b.where, b.body)
				}
				return
			}
			var ps Problems
			if errors.As(err, &ps) && len(ps) == 1 && ps[0].Line > 0 && strings.HasPrefix(ps[0].Msg, "not valid YAML") {
				t.Fatalf("%s, line %d of the block: %v\n%s", b.where, ps[0].Line, err, b.body)
			}
			if err != nil {
				t.Fatalf("%s: %v\n%s", b.where, err, b.body)
			}
		})
	}
	if whole == 0 {
		t.Fatal("no whole configuration (with version:) in the docs; the README's example should be one")
	}
}

// TestSyntaxErrorLine: a YAML syntax error names the line that holds it.
func TestSyntaxErrorLine(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		line int
		want string
	}{
		{"unquoted env in a flow sequence", "version: 1\nproviders:\n  - name: a\n    api_keys: [${A}, ${B}]\n    type: openai\n", 4, "quote a value"},
		{"unquoted env in a flow mapping", "version: 1\nproviders:\n  - {name: a, type: openai, api_key: ${K}}\n", 3, "did not find expected ',' or '}'"},
		{"unclosed flow sequence", "version: 1\nmodels: [\n", 3, "did not find expected node content"},
		{"bad indentation in a list", "version: 1\nproviders:\n  - name: a\n    type: openai\n   bad: 1\n", 5, "did not find expected '-' indicator"},
		{"bad indentation after blank lines", "version: 1\nproviders:\n  - name: a\n    type: openai\n\n\n  bad: 1\n", 7, "not valid YAML"},
		{"bad indentation in a mapping", "version: 1\naccess:\n    trusted_proxies: []\n  deny: []\n", 4, "did not find expected key"},
		{"mapping value in a scalar", "version: 1\n\n\nfoo: bar\n  baz: 1\n", 5, "mapping values are not allowed"},
		{"tab", "version: 1\nkeys:\n\t- a\n", 3, "cannot start any token"},
		{"unterminated quote", "version: 1\nkeys:\n  - name: dev\n    key: \"abc\n", 4, "end of stream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), env(nil))
			var ps Problems
			if !errors.As(err, &ps) || len(ps) != 1 {
				t.Fatalf("want one problem, got %v", err)
			}
			if ps[0].Line != tc.line || !strings.Contains(ps[0].Msg, tc.want) {
				t.Fatalf("got %q at line %d; want line %d and %q", ps[0].Msg, ps[0].Line, tc.line, tc.want)
			}
		})
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

// TestAnyStoredProvider: the check before the store is open accepts a
// target naming a provider the file does not declare, and nothing else.
func TestAnyStoredProvider(t *testing.T) {
	doc := "version: 1\nmodels:\n  - {name: m, targets: [{provider: from-api, model: x}]}\n"
	if _, err := Parse([]byte(doc), env(nil)); err == nil || !strings.Contains(err.Error(), `no provider named "from-api"`) {
		t.Fatalf("without stored providers: %v", err)
	}
	if _, err := Parse([]byte(doc), env(nil), AnyStoredProvider); err != nil {
		t.Fatalf("with AnyStoredProvider: %v", err)
	}
	bad := doc + "keys:\n  - {name: k, key: short}\n"
	if _, err := Parse([]byte(bad), env(nil), AnyStoredProvider); err == nil || !strings.Contains(err.Error(), "keys[0].key") {
		t.Fatalf("other problems with AnyStoredProvider: %v", err)
	}
}
