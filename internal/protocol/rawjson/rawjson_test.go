package rawjson

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/internal/jsonlimit"
)

// splitCases are valid JSON documents that Object, Array and String read as
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
	`"\ud83d\ude00 pair"`, `"\ud83d lone"`, `"\ude00 low"`, `"\ud83d\u0041 broken"`, `"\ud83d\ud83d\ude00 two highs"`,
	`"\/\b\f\n\r\t\u00e9\u2028 \u00E9"`, "\"raw \xff\xfe bytes \\n\"", "\"\xe2\x82 cut \\t\"",
	`null`,
	`12`,
}

// TestSplitMatchesEncodingJSON: Object, Array and String, which trust
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
		checkMembers(t, b)
	})
}

func checkSplit(t *testing.T, b []byte) {
	t.Helper()
	var wantObj map[string]json.RawMessage
	objErr := json.Unmarshal(b, &wantObj)
	gotObj, ok := Object(b)
	if (objErr != nil || wantObj == nil) == ok {
		t.Fatalf("%s: Object ok %v, encoding/json err %v", b, ok, objErr)
	}
	if ok && !reflect.DeepEqual(wantObj, gotObj) {
		t.Fatalf("%s: Object = %q, encoding/json %q", b, gotObj, wantObj)
	}
	var wantArr []json.RawMessage
	arrErr := json.Unmarshal(b, &wantArr)
	gotArr, ok := Array(b)
	if (arrErr != nil || wantArr == nil) == ok {
		t.Fatalf("%s: Array ok %v, encoding/json err %v", b, ok, arrErr)
	}
	if ok && (len(gotArr) != len(wantArr) || (len(wantArr) > 0 && !reflect.DeepEqual(wantArr, gotArr))) {
		t.Fatalf("%s: Array = %q, encoding/json %q", b, gotArr, wantArr)
	}
	var wantStr string
	strErr := json.Unmarshal(b, &wantStr)
	gotStr, ok := String(b)
	if (strErr == nil) != ok || gotStr != wantStr {
		t.Fatalf("%s: String = %q, %v; encoding/json %q, %v", b, gotStr, ok, wantStr, strErr)
	}
}
