package jsonlimit

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
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

// members lists what CheckMembers reports for b: "key=value@at" each.
func members(b []byte) ([]string, error) {
	var got []string
	err := CheckMembers(b, MaxDepth, func(key, value []byte, at int) {
		got = append(got, string(key)+"="+string(value)+"@"+strconv.Itoa(at))
	})
	return got, err
}

func TestCheckMembers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`{"model":"m","n":2}`, []string{`"model"="m"@9`, `"n"=2@17`}},
		{` { "a" : [1, {"b":2}] , "c":{"d":{}} ,"e":null} `, []string{`"a"=[1, {"b":2}]@9`, `"c"={"d":{}}@28`, `"e"=null@42`}},
		{`{"mod\u0065l":"x\"y","":true}`, []string{`"mod\u0065l"="x\"y"@14`, `""=true@24`}},
		{`{}`, nil},
		{`[{"a":1}]`, nil},
		{`"str"`, nil},
		{`{"a":{"b":1,"c":2}}`, []string{`"a"={"b":1,"c":2}@5`}},
	} {
		got, err := members([]byte(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: members %q, want %q", tc.in, got, tc.want)
		}
	}
	// A refused document gets Check's error.
	for _, in := range []string{`{"a":1,}`, `{"a":1} x`, deepObject, `{"a":` + deepArray + `}`} {
		_, err := members([]byte(in))
		if want := Check([]byte(in), MaxDepth); err == nil || err.Error() != want.Error() {
			t.Errorf("%.40s: %v, Check says %v", in, err, want)
		}
	}
}

// FuzzCheckMembers checks CheckMembers against Check and encoding/json: the
// same verdict, and for an object the same members in order, each at its
// offset.
func FuzzCheckMembers(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":null}],"c":"d"}`, `{"\u0061":1,"a":2}`, `[{"a":1}]`, `{"a":{"b":{"c":1}}}`, deepObject, openOnly} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var keys, values []string
		err := CheckMembers(b, MaxDepth, func(key, value []byte, at int) {
			if string(b[at:at+len(value)]) != string(value) {
				t.Fatalf("value %q is not at %d", value, at)
			}
			keys, values = append(keys, string(key)), append(values, string(value))
		})
		if want := Check(b, MaxDepth); (err == nil) != (want == nil) || (err != nil && err.Error() != want.Error()) {
			t.Fatalf("CheckMembers: %v, Check: %v", err, want)
		}
		if err != nil {
			return
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.UseNumber()
		if tok, _ := dec.Token(); tok != json.Delim('{') {
			if len(keys) != 0 {
				t.Fatalf("members %q reported for a document that is not an object", keys)
			}
			return
		}
		for i := 0; dec.More(); i++ {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				t.Fatal(err)
			}
			if i >= len(keys) {
				t.Fatalf("member %q not reported", tok)
			}
			var key string
			if err := json.Unmarshal([]byte(keys[i]), &key); err != nil || key != tok.(string) {
				t.Fatalf("member %d: key %s, encoding/json reads %q", i, keys[i], tok)
			}
			var a, b any
			if json.Unmarshal([]byte(values[i]), &a) != nil || json.Unmarshal(raw, &b) != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("member %q: value %s, encoding/json reads %s", tok, values[i], raw)
			}
			if i == len(keys)-1 && dec.More() {
				t.Fatalf("members after %q not reported", tok)
			}
		}
	})
}

// TestPlain8 checks the eight-byte test of skipString against the byte one,
// every byte value at every position, among neighbours that could borrow
// or carry into it.
func TestPlain8(t *testing.T) {
	plain := func(c byte) bool { return c >= 0x20 && c != '"' && c != '\\' }
	for _, fill := range []byte{'a', 0x00, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xff, '"', '\\'} {
		for pos := 0; pos < 8; pos++ {
			for c := 0; c < 256; c++ {
				var w [8]byte
				want := true
				for i := range w {
					w[i] = fill
					if i == pos {
						w[i] = byte(c)
					}
					want = want && plain(w[i])
				}
				if got := plain8(binary.LittleEndian.Uint64(w[:])); got != want {
					t.Fatalf("% x: plain8 %v, want %v", w, got, want)
				}
			}
		}
	}
}
