package jsonlimit

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Hostile shapes shared by the tests and the fuzz seeds.
var (
	deepArray  = strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	deepObject = strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)
	atLimit    = strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	wide       = "[" + strings.Repeat("1,", 100_000) + "1]"
	longString = `{"a":"` + strings.Repeat("x", 1<<20) + `"}`
	openOnly   = `{"model":"gpt-4o-mini","x":` + strings.Repeat("[", 1<<20)
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		reason string // "" when valid
	}{
		{"object", `{"model":"m","n":[1,2.5e-3,-0,true,false,null,{"a":"\u00e9\n"}]}`, ""},
		{"scalar", ` 12 `, ""},
		{"empty containers", `[{},[],{"a":[]}]`, ""},
		{"at the depth limit", atLimit, ""},
		{"wide", wide, ""},
		{"long string", longString, ""},
		{"deep array", deepArray, ReasonTooDeep},
		{"deep object", deepObject, ReasonTooDeep},
		{"unterminated open brackets", openOnly, ReasonTooDeep},
		{"empty", ``, ReasonSyntax},
		{"trailing data", `{} {}`, ReasonSyntax},
		{"trailing comma", `[1,]`, ReasonSyntax},
		{"object trailing comma", `{"a":1,}`, ReasonSyntax},
		{"mismatched close", `[1}`, ReasonSyntax},
		{"missing colon", `{"a" 1}`, ReasonSyntax},
		{"bare key", `{a:1}`, ReasonSyntax},
		{"control char in string", "\"a\x01\"", ReasonSyntax},
		{"bad escape", `"\x"`, ReasonSyntax},
		{"short unicode escape", `"\u12"`, ReasonSyntax},
		{"leading zero", `01`, ReasonSyntax},
		{"bare minus", `-`, ReasonSyntax},
		{"dot without digits", `1.`, ReasonSyntax},
		{"exponent without digits", `1e+`, ReasonSyntax},
		{"truncated literal", `tru`, ReasonSyntax},
		{"unterminated string", `"abc`, ReasonSyntax},
		{"unclosed object", `{"a":1`, ReasonSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.in), MaxDepth)
			var je *Error
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.reason != "" && !errors.As(err, &je):
				t.Fatalf("accepted, want %s", tc.reason)
			case tc.reason != "" && je.Reason != tc.reason:
				t.Fatalf("reason %s, want %s (%v)", je.Reason, tc.reason, err)
			}
			// Below the depth limit, Check agrees with encoding/json.
			if tc.reason != ReasonTooDeep && (err == nil) != json.Valid([]byte(tc.in)) {
				t.Fatalf("Check says %v, encoding/json says valid=%v", err, json.Valid([]byte(tc.in)))
			}
		})
	}
}

// TestCheckBoundedMemory: Check allocates nothing but the error it returns,
// whatever the input.
func TestCheckBoundedMemory(t *testing.T) {
	body := []byte(`{"model":"gpt-4o-mini","x":` + strings.Repeat("[", 9<<20))
	for _, in := range [][]byte{body, []byte(wide), []byte(deepObject)} {
		if n := testing.AllocsPerRun(5, func() { _ = Check(in, MaxDepth) }); n > 1 {
			t.Fatalf("Check allocated %v times on a %d-byte input", n, len(in))
		}
	}
}

// FuzzCheck checks Check against encoding/json, whose own depth limit is
// 10,000 levels.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":null}]}`, `"\ud800"`, `-0.0e+1`, `[1,]`, deepArray, deepObject, wide, openOnly, "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Check(b, 10_000)
		if (err == nil) != json.Valid(b) {
			t.Fatalf("Check: %v, encoding/json valid: %v, on %q", err, json.Valid(b), b)
		}
	})
}
