package config

import (
	"errors"
	"strings"
	"testing"
)

// TestEveryProblemNamesItsField: each invalid value is reported at its own
// field path with its own message, so that a user can find and fix it.
func TestEveryProblemNamesItsField(t *testing.T) {
	long := strings.Repeat("n", 65)
	tests := []struct {
		name, old, new string
		path, msg      string
	}{
		{"negative reserve", "period: monthly, alert_percents", "period: monthly, reserve_usd: -1, alert_percents",
			"orgs[0].budget.reserve_usd", "must not be negative"},
		{"too many alert thresholds", "alert_percents: [50, 80, 100]", "alert_percents: [10, 20, 30, 40, 50, 60, 70, 80, 90]",
			"orgs[0].budget.alert_percents", "at most 8 thresholds"},
		{"organisation name", "  - name: acme\n", "  - name: 'ac me'\n", "orgs[0].name", "must be 1-64 characters"},
		{"organisation name too long", "  - name: acme\n", "  - name: " + long + "\n", "orgs[0].name", "must be 1-64 characters"},
		{"duplicate organisation", "keys:\n", "  - name: acme\nkeys:\n", "orgs[1].name", `duplicate organisation "acme"`},
		{"team name", "- name: search\n", "- name: 'se/arch'\n", "orgs[0].teams[0].name", "must be 1-64 characters"},
		{"duplicate team", "          - {name: web, rpm: 60}\n", "          - {name: web, rpm: 60}\n      - name: search\n",
			"orgs[0].teams[1].name", `duplicate team "search" in organisation "acme"`},
		{"application name", "{name: web, rpm: 60}", "{name: 'w b', rpm: 60}", "orgs[0].teams[0].applications[0].name", "must be 1-64 characters"},
		{"duplicate application", "{name: web, rpm: 60}", "{name: web, rpm: 60}\n          - {name: web}",
			"orgs[0].teams[0].applications[1].name", `duplicate application "web" in team "search"`},
		{"deny rule without actions", "actions: [keys.write]}", "actions: []}", "access.deny[0].actions", "name at least one action"},
		{"deny rule without roles or users", "roles: [developer], org: acme,", "org: acme,", "access.deny[0]", "name roles or users"},
		{"key name", "name: web-prod", "name: 'web prod'", "keys[0].name", "must be 1-64 characters"},
		{"key name too long", "name: web-prod", "name: " + long, "keys[0].name", "must be 1-64 characters"},
		{"retry_on below 400", "providers: [{name: demo, type: demo}]", "providers: [{name: demo, type: demo, retry_on: [399]}]",
			"providers[0].retry_on[0]", "400-599"},
		{"retry_on above 599", "providers: [{name: demo, type: demo}]", "providers: [{name: demo, type: demo, retry_on: [503, 600]}]",
			"providers[0].retry_on[1]", "400-599"},
		{"canary without weights", "    targets: [{provider: demo, model: demo-chat}]\n", "    targets: [{provider: demo, model: demo-chat}, {provider: demo, model: b}]\n    routing: {policy: canary}\n",
			"models[0].targets", "canary needs weights"},
		{"control character in the session token", "providers: [{name: demo, type: demo}]",
			`providers: [{name: demo, type: bedrock, region: us-east-1, aws_access_key_id: A, aws_secret_access_key: S, aws_session_token: "t\nX-Evil: 1"}]`,
			"providers[0].api_key", "must not contain control characters"},
		{"negative timeout", "providers: [{name: demo, type: demo}]", "providers: [{name: demo, type: demo, timeouts: {total: -5s}}]",
			"providers[0].timeouts.total", "must not be negative"},
		{"empty pooled key", "providers: [{name: demo, type: demo}]", "providers: [{name: demo, type: demo, api_keys: [k1, '']}]",
			"providers[0].api_keys[1]", "must be a non-empty key"},
		{"control character in a pooled key", "providers: [{name: demo, type: demo}]", `providers: [{name: demo, type: demo, api_keys: ["k1\r\nX: y"]}]`,
			"providers[0].api_keys[0]", "without control characters"},
		{"negative weight", "model: demo-chat}]", "model: demo-chat, weight: -1}]", "models[0].targets[0].weight", "between 0 and 1000000"},
		{"weight too large", "model: demo-chat}]", "model: demo-chat, weight: 1000001}]", "models[0].targets[0].weight", "between 0 and 1000000"},
		{"price too large", "    rpm: 1000\n", "    rpm: 1000\n    pricing: {input_per_mtok: 1000001}\n",
			"models[0].pricing.input_per_mtok", "between 0 and 1000000 dollars"},
		{"price not a number", "    rpm: 1000\n", "    rpm: 1000\n    pricing: {output_per_mtok: .nan}\n",
			"models[0].pricing.output_per_mtok", "between 0 and 1000000 dollars"},
		{"openai without base_url", "providers: [{name: demo, type: demo}]", "providers: [{name: demo, type: demo}, {name: o, type: openai}]",
			"providers[1].base_url", "required for type openai"},
		{"control character in the AWS secret", "providers: [{name: demo, type: demo}]",
			`providers: [{name: demo, type: demo}, {name: b, type: bedrock, region: us-east-1, aws_access_key_id: A, aws_secret_access_key: "s\r\nX: y"}]`,
			"providers[1].api_key", "must not contain control characters"},
		{"control character in api version", "providers: [{name: demo, type: demo}]", `providers: [{name: demo, type: demo}, {name: d2, type: demo, api_version: "v\r\nX: y"}]`,
			"providers[1].api_key", "must not contain control characters"},
		{"control character in region", "providers: [{name: demo, type: demo}]", `providers: [{name: demo, type: demo}, {name: d2, type: demo, region: "v\r\nX: y"}]`,
			"providers[1].api_key", "must not contain control characters"},
		{"control character in aws access key id", "providers: [{name: demo, type: demo}]", `providers: [{name: demo, type: demo}, {name: d2, type: demo, aws_access_key_id: "v\r\nX: y"}]`,
			"providers[1].api_key", "must not contain control characters"},
		{"unknown sticky", "    rpm: 1000\n", "    rpm: 1000\n    routing: {sticky: 'header:'}\n", "models[0].routing.sticky", "must be key, user or header:<name>"},
		{"too many attempts", "    rpm: 1000\n", "    rpm: 1000\n    routing: {max_attempts: 11}\n", "models[0].routing.max_attempts", "between 1 and 10"},
		{"not a duration", "providers: [{name: demo, type: demo}]", "providers: [{name: demo, type: demo, timeouts: {total: soon}}]",
			"", `line 3: "soon" is not a duration such as 30s or 10m`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(governed, tt.old, tt.new, 1)
			if src == governed {
				t.Fatalf("%q not found", tt.old)
			}
			_, err := Parse([]byte(src), env(nil))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want problems, got %v", err)
			}
			for _, p := range ps {
				if p.Path == tt.path && strings.Contains(p.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("want %q at %q, got %v", tt.msg, tt.path, ps)
		})
	}
}

// TestValidEdges: values at the edges of what is accepted load.
func TestValidEdges(t *testing.T) {
	name64 := strings.Repeat("Z", 64)
	tests := []struct{ name, old, new string }{
		{"a 64-character name", "name: web-prod", "name: " + name64},
		{"capital letters in names", "keys:\n", "  - name: ZETA-Org_1.Z\nkeys:\n"},
		{"retry_on 400 and 599", "providers: [{name: demo, type: demo}]", "providers: [{name: demo, type: demo, retry_on: [400, 599]}]"},
		{"the largest weight", "model: demo-chat}]", "model: demo-chat, weight: 1000000}]"},
		{"the largest price", "    rpm: 1000\n", "    rpm: 1000\n    pricing: {input_per_mtok: 1000000, output_per_mtok: 0}\n"},
		{"ten attempts", "    rpm: 1000\n", "    rpm: 1000\n    routing: {max_attempts: 10}\n"},
		{"eight alert thresholds", "alert_percents: [50, 80, 100]", "alert_percents: [10, 20, 30, 40, 50, 60, 70, 80]"},
		{"weighted without weights", "    targets: [{provider: demo, model: demo-chat}]\n", "    targets: [{provider: demo, model: demo-chat}]\n    routing: {policy: weighted}\n"},
	}
	for _, tt := range tests {
		src := strings.Replace(governed, tt.old, tt.new, 1)
		if src == governed {
			t.Fatalf("%s: %q not found", tt.name, tt.old)
		}
		if _, err := Parse([]byte(src), env(nil)); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// TestYAMLErrorsWithoutALine: the YAML library's errors that carry no line
// are shown whole, under "(file)".
func TestYAMLErrorsWithoutALine(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"version: 1\nkeys: [\x01]", "(file): not valid YAML: control characters are not allowed"},
		{"a: &x 1\nb: *y\n", "(file): not valid YAML: unknown anchor 'y' referenced"},
		{"", "(file): the file is empty"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml), env(nil))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.yaml, err, tt.want)
		}
	}
	if got := (Problem{Msg: "m"}).String(); got != "(file): m" {
		t.Errorf("String() = %q", got)
	}
	if got := (Problem{Path: "keys[0]", Line: 3, Msg: "m"}).String(); got != "keys[0] (line 3): m" {
		t.Errorf("String() = %q", got)
	}
}

// TestEnvUnderAnExplicitTag: a ${NAME} reference is interpolated whatever
// the scalar's tag, so `!!int ${RPM}` reads a number from the environment.
func TestEnvUnderAnExplicitTag(t *testing.T) {
	src := strings.Replace(governed, "    rpm: 1000", "    rpm: !!int ${MODEL_RPM}", 1)
	f, err := Parse([]byte(src), env(map[string]string{"MODEL_RPM": "250"}))
	if err != nil {
		t.Fatal(err)
	}
	if f.Models[0].RPM != 250 {
		t.Errorf("rpm = %d, want 250", f.Models[0].RPM)
	}
}

// TestEnvInMapValues: ${NAME} references in a map's values (a provider's
// headers) are interpolated, every entry, and an unset one is reported at
// its key's path.
func TestEnvInMapValues(t *testing.T) {
	src := strings.Replace(governed, "providers: [{name: demo, type: demo}]",
		"providers:\n  - name: demo\n    type: demo\n    headers:\n      X-A: ${HA}\n      X-B: b-${HB}\n      X-C: ${HC}\n", 1)
	f, err := Parse([]byte(src), env(map[string]string{"HA": "1", "HB": "2", "HC": "3"}))
	if err != nil {
		t.Fatal(err)
	}
	if h := f.Providers[0].Headers; h["X-A"] != "1" || h["X-B"] != "b-2" || h["X-C"] != "3" || len(h) != 3 {
		t.Errorf("headers %v", h)
	}
	_, err = Parse([]byte(src), env(map[string]string{"HA": "1", "HB": "2"}))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Path != "providers[0].headers.X-C" || ps[0].Line != 9 {
		t.Errorf("unset HC: %v", err)
	}
}

// TestEnvEmptyDefault: ${NAME:-} makes a variable optional, empty when
// unset; ${NAME:-x} gives x.
func TestEnvEmptyDefault(t *testing.T) {
	src := strings.Replace(governed, "providers: [{name: demo, type: demo}]",
		"providers: [{name: demo, type: demo, headers: {X-Opt: 'a${OPT:-}b', X-Def: '${DEF:-d}'}}]", 1)
	f, err := Parse([]byte(src), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if h := f.Providers[0].Headers; h["X-Opt"] != "ab" || h["X-Def"] != "d" {
		t.Errorf("headers %v", h)
	}
}

// TestEnvSetButEmpty: a variable set to "" counts as unset: its default
// applies, and without one it is reported.
func TestEnvSetButEmpty(t *testing.T) {
	src := strings.Replace(governed, "providers: [{name: demo, type: demo}]",
		"providers: [{name: demo, type: demo, headers: {X-Def: '${DEF:-d}', X-Req: '${REQ}'}}]", 1)
	_, err := Parse([]byte(src), env(map[string]string{"DEF": "", "REQ": ""}))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Path != "providers[0].headers.X-Req" || !strings.Contains(ps[0].Msg, "REQ is not set") {
		t.Fatalf("empty REQ: %v", err)
	}
	f, err := Parse([]byte(src), env(map[string]string{"DEF": "", "REQ": "r"}))
	if err != nil {
		t.Fatal(err)
	}
	if h := f.Providers[0].Headers; h["X-Def"] != "d" || h["X-Req"] != "r" {
		t.Errorf("headers %v", h)
	}
}

// TestLoadMissingFile: a configuration file that cannot be read is an error.
func TestLoadMissingFile(t *testing.T) {
	f, err := Load(t.TempDir() + "/none.yaml")
	if err == nil || f != nil {
		t.Fatalf("Load of a missing file = %v, %v", f, err)
	}
}
