package anthropic

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/internal/jsonlimit"
)

// splitCases are valid JSON documents the splitting helpers must read as
// encoding/json does.
var splitCases = []string{
	`{}`,
	` { } `,
	`[]`,
	`[ 1 , "a" , null , true , false , -1.5e3 ]`,
	`{"a":1,"b":"x","c":null,"d":[1,[2,{"e":"}"}]],"f":{"g":"]"}}`,
	`{"a" : "quote \" inside", "b":"\\", "c":"\\\"", "d":"\\\\"}`,
	`{"esc\u0061ped":1,"caf\u00e9":2,"naïve":3}`,
	`{"dup":1,"dup":2}`,
	"{\n\t\"a\"\r\n:\t[ {} , [] ]\n}",
	`["}", "]", "{", "[", ",", ":"]`,
	`"just a string"`,
	`null`,
	`12`,
}

// TestSplitMatchesEncodingJSON: parseObject and parseArray, which trust
// the body's syntax, split every valid document exactly as encoding/json
// does (keys unescaped, the last duplicate wins, values byte for byte).
func TestSplitMatchesEncodingJSON(t *testing.T) {
	for _, c := range splitCases {
		checkSplit(t, []byte(c))
	}
}

func FuzzSplit(f *testing.F) {
	for _, c := range splitCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if jsonlimit.Check(b, jsonlimit.MaxDepth) != nil {
			return
		}
		checkSplit(t, b)
	})
}

func checkSplit(t *testing.T, b []byte) {
	t.Helper()
	var wantObj map[string]json.RawMessage
	objErr := json.Unmarshal(b, &wantObj)
	gotObj, err := parseObject(b, "")
	if (objErr != nil || wantObj == nil) != (err != nil) {
		t.Fatalf("%s: parseObject err %v, encoding/json err %v", b, err, objErr)
	}
	if err == nil && !reflect.DeepEqual(obj(wantObj), gotObj) {
		t.Fatalf("%s: parseObject = %q, encoding/json %q", b, gotObj, wantObj)
	}
	var wantArr []json.RawMessage
	arrErr := json.Unmarshal(b, &wantArr)
	gotArr, err := parseArray(b, "")
	if (arrErr != nil || wantArr == nil) != (err != nil) {
		t.Fatalf("%s: parseArray err %v, encoding/json err %v", b, err, arrErr)
	}
	if err == nil && (len(gotArr) != len(wantArr) || (len(wantArr) > 0 && !reflect.DeepEqual(wantArr, gotArr))) {
		t.Fatalf("%s: parseArray = %q, encoding/json %q", b, gotArr, wantArr)
	}
	var wantStr string
	strErr := json.Unmarshal(b, &wantStr)
	gotStr, ok := stringValue(b)
	if (strErr == nil) != ok || gotStr != wantStr {
		t.Fatalf("%s: stringValue = %q, %v; encoding/json %q, %v", b, gotStr, ok, wantStr, strErr)
	}
}

// TestDecodeRequestAllocations: a typical request is decoded in one pass
// over the body; rescanning each nested value (once per level, as
// encoding/json into maps of raw values did) cost 463 allocations.
func TestDecodeRequestAllocations(t *testing.T) {
	body := typicalRequest()
	n := testing.AllocsPerRun(20, func() {
		if _, err := Client.DecodeRequest(body, ""); err != nil {
			t.Fatal(err)
		}
	})
	if n > 250 {
		t.Fatalf("DecodeRequest of a typical request: %v allocations, want at most 250", n)
	}
}
