package prompt

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
)

// contractVersion is the example of the prompt contract.
func contractVersion() Version {
	return Version{
		Number: 1,
		Model:  "gpt-4o",
		Messages: []Message{
			{Role: "system", Content: "You summarise text."},
			{Role: "user", Content: "Summarise: {{text}}"},
		},
		Variables: json.RawMessage(`{"type":"object","required":["text"],"additionalProperties":false,
			"properties":{"text":{"type":"string","maxLength":2000}}}`),
	}
}

func mustCompile(t *testing.T, v Version) *Compiled {
	t.Helper()
	c, err := Compile(v)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return c
}

func TestContractExample(t *testing.T) {
	c := mustCompile(t, contractVersion())
	got, err := c.Render(json.RawMessage(`{"text": "hello {{text}} world"}`))
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	want := []Message{
		{Role: "system", Content: "You summarise text."},
		{Role: "user", Content: "Summarise: hello {{text}} world"},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Render = %q, want %q", got, want)
	}
	_, err = c.Render(json.RawMessage(`{}`))
	var ve *VariableError
	if !errors.As(err, &ve) || ve.Pointer != "/text" {
		t.Errorf("Render({}) = %v, want an error naming /text", err)
	}
}

func TestRenderHostileValuesKeepMessages(t *testing.T) {
	v := Version{
		Model: "m",
		Messages: []Message{
			{Role: "system", Content: "Answer in {{lang}}."},
			{Role: "user", Content: "{{text}}"},
			{Role: "assistant", Content: "Noted: {{#notes}}{{.}},{{/notes}}"},
			{Role: "user", Content: "Again: {{text}}"},
		},
		Variables: json.RawMessage(`{"type":"object","required":["lang","text"],"properties":{
			"lang":{"enum":["English","French"]},
			"text":{"type":"string"},
			"notes":{"type":"array","items":{"type":"string"}}}}`),
	}
	c := mustCompile(t, v)
	for _, h := range hostileValues {
		t.Run(h, func(t *testing.T) {
			raw, _ := json.Marshal(map[string]any{"lang": "French", "text": h, "notes": []string{h, h}})
			got, err := c.Render(raw)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if len(got) != len(v.Messages) {
				t.Fatalf("Render gave %d messages, want %d", len(got), len(v.Messages))
			}
			want := []string{"Answer in French.", h, "Noted: " + h + "," + h + ",", "Again: " + h}
			for i := range got {
				if got[i].Role != v.Messages[i].Role || got[i].Content != want[i] {
					t.Errorf("message %d = %s %q, want %s %q", i, got[i].Role, got[i].Content, v.Messages[i].Role, want[i])
				}
			}
		})
	}
}

func TestRenderVariableErrors(t *testing.T) {
	v := Version{
		Model:    "m",
		Messages: []Message{{Role: "user", Content: "{{text}} {{#items}}{{.}}{{/items}} {{opt.k}}"}},
		Variables: json.RawMessage(`{"type":"object","required":["text"],"properties":{
			"text":{"type":"string","maxLength":5},
			"items":{"type":"array","items":{"type":"string"}},
			"opt":{"type":"object","properties":{"k":{"type":"string"}}}}}`),
	}
	c := mustCompile(t, v)
	tests := []struct {
		name string
		vars string
		want []string // pointer: reason fragment
	}{
		{"text missing", `{}`, []string{"/text: is required"}},
		{"text wrong type", `{"text":5}`, []string{"/text: must be string, not number"}},
		{"text too long", `{"text":"abcdefg"}`, []string{"/text: is longer than 5"}},
		{"extra not allowed (strict by default)", `{"text":"a","extra":1}`, []string{"/extra: is not allowed"}},
		{"nested extra not allowed", `{"text":"a","opt":{"k":"x","z":1}}`, []string{"/opt/z: is not allowed"}},
		{"element wrong type", `{"text":"a","items":["x","y",3]}`, []string{"/items/2: must be string"}},
		{"every problem at once", `{"text":1,"extra":1,"items":[true]}`, []string{"/extra: is not allowed", "/items/0: must be string", "/text: must be string"}},
		{"not an object", `["text"]`, []string{": variables must be a JSON object"}},
		{"not json", `{"text":`, []string{": variables are not valid JSON"}},
		{"trailing data", `{"text":"a"} {}`, []string{": variables are not valid JSON"}},
		{"errors are capped", `{"text":"a","items":[` + strings.Repeat(`1,`, 2*MaxVariableErrors) + `1]}`, capped()},
		{"optional missing at render", `{"text":"a","items":[]}`, []string{"/opt: is missing"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.Render(json.RawMessage(tc.vars))
			var ves VariableErrors
			if !errors.As(err, &ves) {
				t.Fatalf("Render = %q, %v; want VariableErrors", out, err)
			}
			if len(ves) != len(tc.want) {
				t.Fatalf("errors = %v, want %d: %q", ves, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				ptr, reason, _ := strings.Cut(w, ": ")
				if ves[i].Pointer != ptr || !strings.Contains(ves[i].Reason, reason) {
					t.Errorf("error %d = %s %q, want %s containing %q", i, ves[i].Pointer, ves[i].Reason, ptr, reason)
				}
			}
		})
	}
}

// capped is the report of 2*MaxVariableErrors+1 wrong elements: the first
// MaxVariableErrors in pointer order, then a count of the rest.
func capped() []string {
	var ptrs []string
	for i := 0; i <= 2*MaxVariableErrors; i++ {
		ptrs = append(ptrs, fmt.Sprintf("/items/%d", i))
	}
	sort.Strings(ptrs)
	want := make([]string, 0, MaxVariableErrors+1)
	for _, p := range ptrs[:MaxVariableErrors] {
		want = append(want, p+": must be string")
	}
	return append(want, fmt.Sprintf(": and %d more problems", MaxVariableErrors+1))
}

func TestStrictnessIsOptOut(t *testing.T) {
	v := Version{
		Model:     "m",
		Messages:  []Message{{Role: "user", Content: "{{text}}"}},
		Variables: json.RawMessage(`{"type":"object","additionalProperties":true,"properties":{"text":{"type":"string"}}}`),
	}
	c := mustCompile(t, v)
	if _, err := c.Render(json.RawMessage(`{"text":"a","extra":1}`)); err != nil {
		t.Errorf("Render with additionalProperties true = %v, want extra allowed", err)
	}
}

func TestCompileChecks(t *testing.T) {
	schema := `{"type":"object","properties":{
		"free":{"type":"string"},
		"lang":{"type":"string","enum":["en","fr"]},
		"mode":{"const":"terse"},
		"code":{"type":"string","pattern":"^[a-z]{2}$"},
		"loose":{"type":"string","pattern":"[a-z]{2}"},
		"alt":{"type":"string","pattern":"^a|b$"},
		"multi":{"type":"string","pattern":"(?m)^a$"},
		"n":{"type":"integer"},
		"x":{"type":"number"},
		"flag":{"type":"boolean"},
		"either":{"type":["string","integer"]},
		"ref":{"$ref":"#/$defs/lang"},
		"obj":{"type":"object","properties":{"k":{"type":"string"},"e":{"enum":["a"]}}},
		"tags":{"type":"array","items":{"enum":["a","b"]}},
		"texts":{"type":"array","items":{"type":"string"}},
		"rows":{"type":"array","items":{"type":"object","properties":{"id":{"type":"integer"},"body":{"type":"string"}}}},
		"any":{"type":"array"}
	},"$defs":{"lang":{"enum":["en"]}}}`
	tests := []struct {
		name string
		role string
		tmpl string
		want string // "" when the version compiles
	}{
		{"free text in user", "user", "{{free}}", ""},
		{"free text in system", "system", "Be {{free}}", "variable free is in a system or developer message but its schema does not bound it"},
		{"free text in developer", "developer", "{{free}}", "does not bound it"},
		{"free text in assistant", "assistant", "{{free}}", ""},
		{"enum in system", "system", "{{lang}}", ""},
		{"const in system", "system", "{{mode}}", ""},
		{"anchored pattern in system", "system", "{{code}}", ""},
		{"unanchored pattern in system", "system", "{{loose}}", "does not bound it"},
		{"alternation pattern in system", "system", "{{alt}}", "does not bound it"},
		{"multiline pattern in system", "system", "{{multi}}", "does not bound it"},
		{"integer in system", "system", "{{n}}", ""},
		{"number in system", "system", "{{x}}", ""},
		{"boolean in system", "system", "{{flag}}", ""},
		{"string or integer in system", "system", "{{either}}", "does not bound it"},
		{"ref to enum in system", "system", "{{ref}}", ""},
		{"bounded field in system", "system", "{{obj.e}}", ""},
		{"free field in system", "system", "{{obj.k}}", "variable obj.k is in a system"},
		{"enum elements in system", "system", "{{#tags}}{{.}}{{/tags}}", ""},
		{"free elements in system", "system", "{{#texts}}{{.}}{{/texts}}", "variable texts[] is in a system"},
		{"bounded element field in system", "system", "{{#rows}}{{id}}{{/rows}}", ""},
		{"free element field in system", "system", "{{#rows}}{{body}}{{/rows}}", "variable rows[].body is in a system"},
		{"section alone in system", "system", "{{#texts}}-{{/texts}}{{^texts}}none{{/texts}}", ""},
		{"unconstrained elements in system", "system", "{{#any}}{{.}}{{/any}}", "not bounded"},
		{"undeclared", "user", "{{nope}}", "variable nope is not declared"},
		{"undeclared field", "user", "{{obj.nope}}", "variable obj.nope is not declared"},
		{"undeclared element field", "user", "{{#rows}}{{nope}}{{/rows}}", "variable rows[].nope is not declared"},
		{"field of unconstrained elements", "user", "{{#any}}{{k}}{{/any}}", "variable any[].k is not declared"},
		{"undeclared section", "user", "{{#nope}}x{{/nope}}", "variable nope is not declared"},
		{"section over string", "user", "{{#free}}x{{/free}}", "section free is declared as string"},
		{"object as text", "user", "{{obj}}", "variable obj is declared as object"},
		{"unknown role", "tool", "hi", `"tool" is not one of`},
		{"parse error", "user", "{{#a}}", "unclosed section"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := Version{Model: "m", Messages: []Message{{Role: tc.role, Content: tc.tmpl}}, Variables: json.RawMessage(schema)}
			_, err := Compile(v)
			if tc.want == "" {
				if err != nil {
					t.Errorf("Compile = %v, want success", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Compile = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCompileVersionErrors(t *testing.T) {
	base := contractVersion
	tests := []struct {
		name   string
		mutate func(v *Version)
		want   string
	}{
		{"no model", func(v *Version) { v.Model = " " }, "model: is required"},
		{"no messages", func(v *Version) { v.Messages = nil }, "at least one message"},
		{"params not object", func(v *Version) { v.Params = json.RawMessage(`[1]`) }, "params: must be a JSON object"},
		{"variables not object type", func(v *Version) { v.Variables = json.RawMessage(`{"type":"array"}`) }, `"type": "object"`},
		{"variables invalid schema", func(v *Version) {
			v.Variables = json.RawMessage(`{"type":"object","properties":{"text":{"type":"strin"}}}`)
		}, "variables:"},
		{"external file ref", func(v *Version) {
			v.Variables = json.RawMessage(`{"type":"object","properties":{"text":{"$ref":"file:///etc/passwd"}}}`)
		}, "not allowed"},
		{"external url ref", func(v *Version) {
			v.Variables = json.RawMessage(`{"type":"object","properties":{"text":{"$ref":"https://example.com/s.json"}}}`)
		}, "not allowed"},
		{"output invalid", func(v *Version) { v.Output = json.RawMessage(`{"type":1}`) }, "output:"},
		{"every problem", func(v *Version) { v.Model = ""; v.Messages[0].Role = "bot" }, `model: is required` + "\n" + `messages[0].role: "bot"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := base()
			tc.mutate(&v)
			_, err := Compile(v)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Compile = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestNoVariables(t *testing.T) {
	c := mustCompile(t, Version{Model: "m", Messages: []Message{{Role: "user", Content: "hi"}}})
	if got, err := c.Render(nil); err != nil || got[0].Content != "hi" {
		t.Errorf("Render(nil) = %v, %v", got, err)
	}
	_, err := c.Render(json.RawMessage(`{"x":1}`))
	var ve *VariableError
	if !errors.As(err, &ve) || ve.Pointer != "/x" {
		t.Errorf("Render with an undeclared variable = %v, want /x refused", err)
	}
}

func TestValidateOutput(t *testing.T) {
	v := contractVersion()
	v.Output = json.RawMessage(`{"type":"object","required":["summary"],"properties":{"summary":{"type":"string"}}}`)
	c := mustCompile(t, v)
	tests := []struct {
		text, want string
	}{
		{`{"summary":"ok"}`, ""},
		{`{"summary":"ok","extra":1}`, ""}, // output schemas are not closed
		{`{}`, "/summary"},
		{`not json`, "not valid JSON"},
	}
	for _, tc := range tests {
		err := c.ValidateOutput(tc.text)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("ValidateOutput(%q) = %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestCompiledConcurrentRender(t *testing.T) {
	c := mustCompile(t, contractVersion())
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				text := fmt.Sprintf("text %d-%d", i, j)
				raw, _ := json.Marshal(map[string]string{"text": text})
				got, err := c.Render(raw)
				if err != nil || got[1].Content != "Summarise: "+text {
					t.Errorf("Render = %v, %v", got, err)
					return
				}
				if _, err := c.Render(json.RawMessage(`{"text":1}`)); err == nil {
					t.Errorf("Render of a wrong type succeeded")
					return
				}
			}
		}()
	}
	wg.Wait()
}
