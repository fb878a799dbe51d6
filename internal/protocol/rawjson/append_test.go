package rawjson

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/sluicehq/sluice/internal/jsonlimit"
)

var stringCases = []string{"", "plain", `quote " and \ back`, "<a href='x'>&amp;</a>", "\x00\x01\b\f\n\r\t\x1f\x7f",
	"caf\u00e9 \u2028 \u2029 \U0001F600", "bad \xff\xfe utf8 \xe2\x82", "\u00e9\xc3"}

// TestAppendStringMatchesEncodingJSON: AppendString writes what
// json.Marshal (escapeHTML) and an Encoder without HTML escaping write.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range stringCases {
		checkAppendString(t, s)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range stringCases {
		f.Add(s)
	}
	f.Fuzz(checkAppendString)
}

func checkAppendString(t *testing.T, s string) {
	t.Helper()
	want, _ := json.Marshal(s)
	if got := AppendString([]byte("x"), s, true); string(got) != "x"+string(want) {
		t.Fatalf("AppendString(%q, html) = %s, json.Marshal %s", s, got[1:], want)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	want = bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	if got := AppendString(nil, s, false); string(got) != string(want) {
		t.Fatalf("AppendString(%q) = %s, Encoder %s", s, got, want)
	}
}

// TestAppendFloat: floats are written as encoding/json writes them, and
// NaN and infinities are refused.
func TestAppendFloat(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1.5, 0.7, 1e-6, 9.99e-7, 1e-9, 1e20, 1e21, 123456789e30, math.MaxFloat64, math.SmallestNonzeroFloat64, 2.5e-300} {
		want, _ := json.Marshal(f)
		got, ok := AppendFloat(nil, f)
		if !ok || string(got) != string(want) {
			t.Errorf("AppendFloat(%v) = %s %v, json.Marshal %s", f, got, ok, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, ok := AppendFloat(nil, f); ok {
			t.Errorf("AppendFloat(%v) ok", f)
		}
	}
}

// TestAppendCompactMatchesEncodingJSON: AppendCompact and IsCompact agree
// with json.Compact on every valid document.
func TestAppendCompactMatchesEncodingJSON(t *testing.T) {
	for _, c := range splitCases {
		checkCompact(t, []byte(c))
	}
}

func FuzzAppendCompact(f *testing.F) {
	for _, c := range splitCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if jsonlimit.Check(b, jsonlimit.MaxDepth) != nil {
			return
		}
		checkCompact(t, b)
	})
}

func checkCompact(t *testing.T, b []byte) {
	t.Helper()
	var want bytes.Buffer
	if err := json.Compact(&want, b); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	if got := AppendCompact(nil, b); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("AppendCompact(%q) = %q, json.Compact %q", b, got, want.Bytes())
	}
	// json.Marshal of a json.RawMessage is compaction with HTML escaping.
	wantHTML, err := json.Marshal(json.RawMessage(b))
	if err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	if got := AppendCompactHTML(nil, b); !bytes.Equal(got, wantHTML) {
		t.Fatalf("AppendCompactHTML(%q) = %q, json.Marshal %q", b, got, wantHTML)
	}
	if IsCompact(b) != bytes.Equal(b, want.Bytes()) {
		t.Fatalf("IsCompact(%q) = %v", b, IsCompact(b))
	}
}

// TestMembersMatchesObject: Members reports every member in order, and
// its last value for a key is what Object (and encoding/json) keeps.
func TestMembersMatchesObject(t *testing.T) {
	for _, c := range splitCases {
		checkMembers(t, []byte(c))
	}
}

func checkMembers(t *testing.T, b []byte) {
	t.Helper()
	want, wantOK := Object(b)
	got := map[string]json.RawMessage{}
	ok := Members(b, func(k, v []byte) { got[string(k)] = v })
	if ok != wantOK || (ok && len(got) != len(want)) {
		t.Fatalf("%s: Members ok %v %q; Object %v %q", b, ok, got, wantOK, want)
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Fatalf("%s: Members[%q] = %s, Object %s", b, k, got[k], v)
		}
	}
	var wantArr []json.RawMessage
	arrOK := json.Unmarshal(b, &wantArr) == nil && wantArr != nil
	var gotArr []json.RawMessage
	if Elements(b, func(v []byte) { gotArr = append(gotArr, v) }) != arrOK || len(gotArr) != len(wantArr) {
		t.Fatalf("%s: Elements %q, encoding/json %q", b, gotArr, wantArr)
	}
}

// TestAppendCompactHTML: raw values with bytes that json.Marshal escapes.
func TestAppendCompactHTML(t *testing.T) {
	for _, c := range []string{`{"a":"<b> & </b>", "c" : ["\u2028", "` + "\u2028\u2029\u2027" + `"]}`, `"\\<\"&"`, `[ "x\"<" , 1 ]`} {
		checkCompact(t, []byte(c))
	}
}
