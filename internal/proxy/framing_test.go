package proxy

import (
	"encoding/json"
	"testing"
)

var jsonCases = []string{
	`{}`, `[]`, `{"a":1}`, ` {"a" : [1, -2.5e+3, true, false, null, "x\"y\\u00e9"]} `, `"s"`, `0`, `-0.1E-2`, `123`,
	`{"a":{"b":[{}]}}`, `[1,[2,[3]]]`, `{"usage":null}`,
	`{`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,}`, `[1,]`, `{,}`, `{"a" 1}`, `{"a":1}}`, `{"a":1} x`, `[1 2]`,
	`{"a":tru}`, `{"a":nul}`, `{"a":truex}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":.5}`,
	`{"a":"\x01"}`, `{"a":"\q"}`, `{"a":"\u12G4"}`, `{1:2}`, `[}`, `{]`, ``, `   `, `"unterminated`,
	`{"n":12345678901234567890123456789012345678901234567890}`, `{"n":1234567890123456789012345678901234567890x}`,
}

// The incremental checker agrees with encoding/json on whole documents,
// however they are cut.
func TestJSONCheckerAgreesWithEncodingJSON(t *testing.T) {
	for _, doc := range jsonCases {
		want := json.Valid([]byte(doc))
		for _, step := range []int{1, 2, 3, 7, len(doc) + 1} {
			var j jsonChecker
			for i := 0; i < len(doc); i += step {
				_ = j.Feed([]byte(doc[i:min(i+step, len(doc))]))
			}
			if got := j.Close() == nil; got != want {
				t.Errorf("%q in pieces of %d: valid=%v, encoding/json says %v", doc, step, got, want)
			}
		}
	}
}

func FuzzJSONChecker(f *testing.F) {
	for _, doc := range jsonCases {
		f.Add([]byte(doc), uint8(3))
	}
	f.Fuzz(func(t *testing.T, doc []byte, step uint8) {
		n := int(step%16) + 1
		var j jsonChecker
		for i := 0; i < len(doc); i += n {
			_ = j.Feed(doc[i:min(i+n, len(doc))])
		}
		if got, want := j.Close() == nil, json.Valid(doc); got != want {
			t.Fatalf("%q: valid=%v, encoding/json says %v", doc, got, want)
		}
	})
}

// The tail window keeps the last bytes written, in order.
func TestTailWindow(t *testing.T) {
	var tl tail
	var all []byte
	for i := range 5000 {
		p := make([]byte, i%97)
		for k := range p {
			p[k] = byte(i + k)
		}
		tl.Write(p)
		all = append(all, p...)
		got := tl.Bytes(nil)
		want := all[max(0, len(all)-tailWindow):]
		if string(got) != string(want) {
			t.Fatalf("after %d writes: the window holds %d bytes, want the last %d", i+1, len(got), len(want))
		}
	}
	big := make([]byte, 3*tailWindow+5)
	big[len(big)-1] = 'z'
	tl.Write(big)
	if got := tl.Bytes(nil); len(got) != tailWindow || got[len(got)-1] != 'z' {
		t.Fatal("a write larger than the window keeps its last bytes")
	}
}
