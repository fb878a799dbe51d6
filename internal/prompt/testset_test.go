package prompt

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseCases(t *testing.T) {
	input := `{"name":"short","variables":{"text":"hi"},"assert":[{"type":"contains","value":"hi"}]}

{"variables":{"text":"x"},"assert":[{"type":"max_cost_usd","value":0.002},{"type":"json_schema","value":{"type":"object"}}]}
`
	cases, err := ParseCases(strings.NewReader("\ufeff" + input))
	if err != nil {
		t.Fatalf("ParseCases: %v", err)
	}
	if len(cases) != 2 || cases[0].Name != "short" || cases[1].Name != "line 3" || len(cases[1].Assert) != 2 {
		t.Errorf("ParseCases = %+v", cases)
	}
	if string(cases[0].Variables) != `{"text":"hi"}` {
		t.Errorf("variables = %s", cases[0].Variables)
	}
}

func TestParseCasesErrors(t *testing.T) {
	long := `{"name":"` + strings.Repeat("x", MaxCaseLineBytes) + `"}`
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{"not json", "{}\n{nope", "line 2: not a valid case"},
		{"unknown field", `{"nme":"x"}`, `line 1: not a valid case: json: unknown field "nme"`},
		{"two values", `{} {}`, "line 1: more than one JSON value"},
		{"variables not object", `{"variables":[1]}`, "line 1: variables: must be a JSON object"},
		{"unknown assertion", "\n\n" + `{"assert":[{"type":"contains","value":"a"},{"type":"sounds_good","value":1}]}`, `line 3: assert[1]: unknown assertion type "sounds_good"`},
		{"contains needs string", `{"assert":[{"type":"contains","value":1}]}`, "contains: value must be a string"},
		{"bad regex", `{"assert":[{"type":"regex","value":"a("}]}`, "line 1: assert[0]: regex:"},
		{"bad schema", `{"assert":[{"type":"json_schema","value":{"type":7}}]}`, "json_schema:"},
		{"negative latency", `{"assert":[{"type":"max_latency_ms","value":-1}]}`, "non-negative"},
		{"cost not number", `{"assert":[{"type":"max_cost_usd","value":"1"}]}`, "value must be a number"},
		{"line too long", "{}\n" + long + "\n{}", "line 2: line is longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCases(strings.NewReader(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseCases = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseCasesLineAtLimit(t *testing.T) {
	line := `{"name":"` + strings.Repeat("x", MaxCaseLineBytes-len(`{"name":""}`)) + `"}`
	cases, err := ParseCases(strings.NewReader(line + "\n" + line))
	if err != nil || len(cases) != 2 {
		t.Fatalf("ParseCases of lines of exactly %d bytes = %d cases, %v", MaxCaseLineBytes, len(cases), err)
	}
}

func TestCheck(t *testing.T) {
	out := Outcome{Text: `{"summary":"Hello world"}`, Latency: 1500 * time.Millisecond, CostMicros: 2000}
	tests := []struct {
		typ, value string
		out        Outcome
		pass       bool
		detail     string
	}{
		{"contains", `"Hello"`, out, true, "contains"},
		{"contains", `"hello"`, out, false, `does not contain "hello"`},
		{"not_contains", `"secret"`, out, true, "does not contain"},
		{"not_contains", `"world"`, out, false, `contains "world"`},
		{"regex", `"Hel+o\\s\\w+"`, out, true, "matches"},
		{"regex", `"^Hello"`, out, false, "does not match"},
		{"equals", `"{\"summary\":\"Hello world\"}"`, out, true, "equal"},
		{"equals", `"{\"summary\":\"Hello world\"} "`, out, false, "want"},
		{"json_schema", `{"type":"object","required":["summary"]}`, out, true, "matches the schema"},
		{"json_schema", `{"type":"object","required":["title"]}`, out, false, "/title: is required"},
		{"json_schema", `{"type":"object"}`, Outcome{Text: "plain text"}, false, "not valid JSON"},
		{"max_latency_ms", `1500`, out, true, "latency 1500.0 ms"},
		{"max_latency_ms", `1499.9`, out, false, "limit 1499.9 ms"},
		{"max_cost_usd", `0.002`, out, true, "cost $0.002000"},
		{"max_cost_usd", `0.001999`, out, false, "limit $0.001999"},
		{"max_cost_usd", `0`, Outcome{}, true, "cost $0.000000"},
		{"unknown", `"x"`, out, false, "unknown assertion type"},
		{"regex", `"a("`, out, false, "regex"},
	}
	for _, tc := range tests {
		t.Run(tc.typ+" "+tc.value, func(t *testing.T) {
			pass, detail := Check(Assertion{Type: tc.typ, Value: json.RawMessage(tc.value)}, tc.out)
			if pass != tc.pass || !strings.Contains(detail, tc.detail) {
				t.Errorf("Check = %v %q, want %v containing %q", pass, detail, tc.pass, tc.detail)
			}
		})
	}
}

func TestSummaryAndTable(t *testing.T) {
	cases := []Case{
		{Name: "greets", Assert: []Assertion{{Type: "contains", Value: json.RawMessage(`"hello"`)}}},
		{Name: "cheap\tand\nquick", Assert: []Assertion{{Type: "max_cost_usd", Value: json.RawMessage(`0.001`)}}},
	}
	v1 := Run{Version: "v1", Results: []Result{
		Evaluate(cases[0], Outcome{Text: "hello", Latency: 100 * time.Millisecond, CostMicros: 500, InputTokens: 10, OutputTokens: 5}),
		Evaluate(cases[1], Outcome{Text: "x", Latency: 300 * time.Millisecond, CostMicros: 2000, InputTokens: 20, OutputTokens: 7}),
	}}
	v2 := Run{Version: "v2", Results: []Result{
		Evaluate(cases[0], Outcome{Text: "hello there", Latency: 200 * time.Millisecond, CostMicros: 400, InputTokens: 12, OutputTokens: 6}),
		{Case: cases[1].Name, Err: errors.New("upstream 503")},
	}}
	s1, s2 := Summarize(v1), Summarize(v2)
	if s1 != (Summary{Version: "v1", Cases: 2, Passed: 1, MeanLatency: 200 * time.Millisecond, InputTokens: 30, OutputTokens: 12, CostMicros: 2500}) {
		t.Errorf("Summarize(v1) = %+v", s1)
	}
	// The failed call counts as a failure and is left out of the mean latency.
	if s2.Passed != 1 || s2.Cases != 2 || s2.MeanLatency != 200*time.Millisecond || s2.PassRate() != 0.5 {
		t.Errorf("Summarize(v2) = %+v", s2)
	}
	if AllPassed([]Run{v1}) || !AllPassed([]Run{{Version: "v", Results: v1.Results[:1]}}) {
		t.Errorf("AllPassed is wrong")
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, []Run{v1, v2}); err != nil {
		t.Fatal(err)
	}
	want := `CASE             v1                                                  v2
greets           PASS                                                PASS
cheap and quick  FAIL max_cost_usd: cost $0.002000, limit $0.001000  ERROR upstream 503

VERSION  PASS  RATE   MEAN LATENCY  TOKENS IN  TOKENS OUT  COST USD
v1       1/2   50.0%  200ms         30         12          0.002500
v2       1/2   50.0%  200ms         12         6           0.000400
`
	if buf.String() != want {
		t.Errorf("WriteTable =\n%s\nwant\n%s", buf.String(), want)
	}
}

// FuzzParseCases reads arbitrary test-set text: it must never panic, and
// every case it accepts has assertions that Check can evaluate.
func FuzzParseCases(f *testing.F) {
	f.Add(`{"name":"a","variables":{"text":"hi"},"assert":[{"type":"contains","value":"hi"}]}`)
	f.Add(`{"assert":[{"type":"regex","value":"^a+$"},{"type":"max_cost_usd","value":0.5}]}` + "\n\n{}")
	f.Add(`{"assert":[{"type":"json_schema","value":{"type":"object","required":["a"]}}]}`)
	f.Fuzz(func(t *testing.T, input string) {
		cases, err := ParseCases(strings.NewReader(input))
		if err != nil {
			return
		}
		for _, c := range cases {
			for _, a := range c.Assert {
				if _, detail := Check(a, Outcome{Text: input}); strings.Contains(detail, "unknown assertion type") {
					t.Fatalf("ParseCases accepted assertion %q that Check does not know", a.Type)
				}
			}
		}
	})
}
