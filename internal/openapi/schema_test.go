package openapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

type (
	Leaf struct {
		A string `json:"a"`
	}
	Node struct {
		Name     string  `json:"name"`
		Children []*Node `json:"children,omitempty"`
		Parent   *Node   `json:"parent"`
	}
	Ping struct {
		Pong *Pong `json:"pong,omitempty"`
	}
	Pong struct {
		Ping Ping `json:"ping"`
	}
	Base struct {
		ID      string    `json:"id" doc:"The ID."`
		Created time.Time `json:"created"`
		Shadow  int       `json:"shadow"`
	}
	Extra struct {
		Note string `json:"note"`
	}
	inner struct {
		Hidden string `json:"hidden"`
	}
	Embeds struct {
		Base
		*Extra
		inner
		Shadow string `json:"shadow,omitempty"`
		Named  Leaf   `json:"named"`
	}
	// Tie: A and B both give X at depth 1, untagged: encoding/json drops X.
	TieA struct{ X int }
	TieB struct{ X int }
	Tie  struct {
		TieA
		TieB
		Y int
	}
	// TagWins: the tagged X beats the untagged one at the same depth.
	TagA struct{ X int }
	TagB struct {
		Z int `json:"X"`
	}
	TagWins struct {
		TagA
		TagB
	}
	Tags struct {
		Renamed  string `json:"renamed"`
		Untagged int
		Omit     string           `json:"omit,omitempty"`
		Zero     time.Time        `json:"zero,omitzero"`
		Skipped  string           `json:"-"`
		Dash     string           `json:"-,"`
		Quoted   int64            `json:"quoted,string"`
		OnlyOpts bool             `json:",omitempty"`
		unexp    string           //nolint:unused // must not appear
		Raw      json.RawMessage  `json:"raw"`
		Any      any              `json:"any"`
		Bytes    []byte           `json:"bytes"`
		Fixed    [2]float64       `json:"fixed"`
		Small    uint8            `json:"small"`
		Dict     map[string]*Leaf `json:"dict"`
		IntKeys  map[int]string   `json:"int_keys"`
		PtrPtr   **string         `json:"ptr_ptr"`
		PtrSlice *[]string        `json:"ptr_slice"`
		PtrMarsh *Custom          `json:"ptr_marsh"`
		Text     TextID           `json:"text"`
	}
	Enums struct {
		Color  string   `json:"color" enum:"red,green"`
		Level  int      `json:"level" enum:"1,2,3"`
		Maybe  *string  `json:"maybe,omitempty" enum:"x,y" doc:"Maybe a letter."`
		Many   []string `json:"many" enum:"a,b"`
		Status Status   `json:"status" enum:"ok, failed"`
		QInt   int      `json:"q_int,string" enum:"5,6"`
	}
	Status      string
	Custom      struct{ v int }
	TextID      struct{ v int }
	Page[T any] struct {
		Data []T `json:"data"`
	}
	Empty struct{}
)

func (Custom) MarshalJSON() ([]byte, error) { return []byte(`1`), nil }
func (TextID) MarshalText() ([]byte, error) { return []byte(`t`), nil }

// schemaJSON renders the schema of t and the components it made.
func schemaJSON(t *testing.T, typ reflect.Type) (string, string, error) {
	t.Helper()
	g := newSchemas()
	s, err := g.of(typ)
	if err != nil {
		return "", "", err
	}
	a, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(g.components)
	if err != nil {
		t.Fatal(err)
	}
	return string(a), string(c), nil
}

// sameJSON reports whether two JSON texts are equal as values.
func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("bad JSON %s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("bad JSON %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func TestSchemaOf(t *testing.T) {
	str := `{"type":"string"}`
	for _, tc := range []struct {
		name       string
		typ        reflect.Type
		want       string
		components string // "" means {}
	}{
		{"string", reflect.TypeFor[string](), str, ""},
		{"bool", reflect.TypeFor[bool](), `{"type":"boolean"}`, ""},
		{"int", reflect.TypeFor[int](), `{"type":"integer","format":"int64"}`, ""},
		{"int32", reflect.TypeFor[int32](), `{"type":"integer","format":"int32"}`, ""},
		{"uint64", reflect.TypeFor[uint64](), `{"type":"integer","format":"int64","minimum":0}`, ""},
		{"float64", reflect.TypeFor[float64](), `{"type":"number","format":"double"}`, ""},
		{"named string", reflect.TypeFor[Status](), str, ""},
		{"duration is nanoseconds", reflect.TypeFor[time.Duration](), `{"type":"integer","format":"int64"}`, ""},
		{"time", reflect.TypeFor[time.Time](), `{"type":"string","format":"date-time"}`, ""},
		{"pointer to time", reflect.TypeFor[*time.Time](), `{"type":["string","null"],"format":"date-time"}`, ""},
		{"raw message", reflect.TypeFor[json.RawMessage](), `{}`, ""},
		{"interface", reflect.TypeFor[any](), `{}`, ""},
		{"bytes", reflect.TypeFor[[]byte](), `{"type":"string","contentEncoding":"base64"}`, ""},
		{"slice", reflect.TypeFor[[]string](), `{"type":"array","items":{"type":"string"}}`, ""},
		{"array", reflect.TypeFor[[3]bool](), `{"type":"array","items":{"type":"boolean"},"minItems":3,"maxItems":3}`, ""},
		{"map", reflect.TypeFor[map[string]int32](), `{"type":"object","additionalProperties":{"type":"integer","format":"int32"}}`, ""},
		{"pointer", reflect.TypeFor[*string](), `{"type":["string","null"]}`, ""},
		{"pointer to pointer", reflect.TypeFor[**int](), `{"type":["integer","null"],"format":"int64"}`, ""},
		{"pointer to struct", reflect.TypeFor[*Leaf](), `{"anyOf":[{"$ref":"#/components/schemas/Leaf"},{"type":"null"}]}`,
			`{"Leaf":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}}`},
		{"json.Marshaler", reflect.TypeFor[Custom](), `{}`, ""},
		{"text marshaler", reflect.TypeFor[TextID](), str, ""},
		{"empty struct", reflect.TypeFor[Empty](), `{"$ref":"#/components/schemas/Empty"}`, `{"Empty":{"type":"object"}}`},
		{"anonymous struct inline", reflect.TypeFor[struct {
			B bool `json:"b,omitempty"`
		}](), `{"type":"object","properties":{"b":{"type":"boolean"}}}`, ""},
		{"generic name", reflect.TypeFor[Page[Leaf]](), `{"$ref":"#/components/schemas/Page_Leaf"}`,
			`{"Page_Leaf":{"type":"object","properties":{"data":{"type":"array","items":{"$ref":"#/components/schemas/Leaf"}}},"required":["data"]},
			  "Leaf":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}}`},
		{"recursion", reflect.TypeFor[Node](), `{"$ref":"#/components/schemas/Node"}`,
			`{"Node":{"type":"object","properties":{
				"name":{"type":"string"},
				"children":{"type":"array","items":{"anyOf":[{"$ref":"#/components/schemas/Node"},{"type":"null"}]}},
				"parent":{"anyOf":[{"$ref":"#/components/schemas/Node"},{"type":"null"}]}},
				"required":["name","parent"]}}`},
		{"mutual recursion", reflect.TypeFor[Ping](), `{"$ref":"#/components/schemas/Ping"}`,
			`{"Ping":{"type":"object","properties":{"pong":{"anyOf":[{"$ref":"#/components/schemas/Pong"},{"type":"null"}]}}},
			  "Pong":{"type":"object","properties":{"ping":{"$ref":"#/components/schemas/Ping"}},"required":["ping"]}}`},
		{"embedded", reflect.TypeFor[Embeds](), `{"$ref":"#/components/schemas/Embeds"}`,
			`{"Embeds":{"type":"object","properties":{
				"id":{"type":"string","description":"The ID."},
				"created":{"type":"string","format":"date-time"},
				"note":{"type":"string"},
				"hidden":{"type":"string"},
				"shadow":{"type":"string"},
				"named":{"$ref":"#/components/schemas/Leaf"}},
				"required":["created","hidden","id","named"]},
			  "Leaf":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}}`},
		{"embedded tie drops the name", reflect.TypeFor[Tie](), `{"$ref":"#/components/schemas/Tie"}`,
			`{"Tie":{"type":"object","properties":{"Y":{"type":"integer","format":"int64"}},"required":["Y"]}}`},
		{"embedded tagged wins", reflect.TypeFor[TagWins](), `{"$ref":"#/components/schemas/TagWins"}`,
			`{"TagWins":{"type":"object","properties":{"X":{"type":"integer","format":"int64"}},"required":["X"]}}`},
		{"json tags", reflect.TypeFor[Tags](), `{"$ref":"#/components/schemas/Tags"}`,
			`{"Tags":{"type":"object","properties":{
				"renamed":{"type":"string"},
				"Untagged":{"type":"integer","format":"int64"},
				"omit":{"type":"string"},
				"zero":{"type":"string","format":"date-time"},
				"-":{"type":"string"},
				"quoted":{"type":"string"},
				"OnlyOpts":{"type":"boolean"},
				"raw":{},
				"any":{},
				"bytes":{"type":"string","contentEncoding":"base64"},
				"fixed":{"type":"array","items":{"type":"number","format":"double"},"minItems":2,"maxItems":2},
				"small":{"type":"integer","format":"int32","minimum":0},
				"dict":{"type":"object","additionalProperties":{"anyOf":[{"$ref":"#/components/schemas/Leaf"},{"type":"null"}]}},
				"int_keys":{"type":"object","additionalProperties":{"type":"string"}},
				"ptr_ptr":{"type":["string","null"]},
				"ptr_slice":{"type":["array","null"],"items":{"type":"string"}},
				"ptr_marsh":{},
				"text":{"type":"string"}},
				"required":["-","Untagged","any","bytes","dict","fixed","int_keys","ptr_marsh","ptr_ptr","ptr_slice","quoted","raw","renamed","small","text"]},
			  "Leaf":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}}`},
		{"enum and doc tags", reflect.TypeFor[Enums](), `{"$ref":"#/components/schemas/Enums"}`,
			`{"Enums":{"type":"object","properties":{
				"color":{"type":"string","enum":["red","green"]},
				"level":{"type":"integer","format":"int64","enum":[1,2,3]},
				"maybe":{"type":["string","null"],"description":"Maybe a letter.","enum":["x","y",null]},
				"many":{"type":"array","items":{"type":"string","enum":["a","b"]}},
				"status":{"type":"string","enum":["ok","failed"]},
				"q_int":{"type":"string","enum":["5","6"]}},
				"required":["color","level","many","q_int","status"]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, comps, err := schemaJSON(t, tc.typ)
			if err != nil {
				t.Fatalf("of(%s): %v", tc.typ, err)
			}
			if !sameJSON(t, got, tc.want) {
				t.Errorf("schema of %s:\n got %s\nwant %s", tc.typ, got, tc.want)
			}
			wantComps := tc.components
			if wantComps == "" {
				wantComps = "{}"
			}
			if !sameJSON(t, comps, wantComps) {
				t.Errorf("components of %s:\n got %s\nwant %s", tc.typ, comps, wantComps)
			}
		})
	}
}

func TestSchemaOfErrors(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		typ        reflect.Type
	}{
		{"chan", "cannot be encoded", reflect.TypeFor[chan int]()},
		{"func field", "cannot be encoded", reflect.TypeFor[struct{ F func() }]()},
		{"complex", "cannot be encoded", reflect.TypeFor[complex128]()},
		{"struct map key", "map key", reflect.TypeFor[map[Leaf]int]()},
		{"bad integer enum", "enum tag value", reflect.TypeFor[struct {
			N int `enum:"1,two"`
		}]()},
		{"enum on struct", "enum tag", reflect.TypeFor[struct {
			L Leaf `enum:"a"`
		}]()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := schemaJSON(t, tc.typ)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("of(%s) = %v, want an error containing %q", tc.typ, err, tc.want)
			}
		})
	}
}

// Two types of one name from different packages get different components.
func TestSchemaNameCollision(t *testing.T) {
	type Leaf struct { // shadows the package-level Leaf; same Name, same package path
		B int `json:"b"`
	}
	g := newSchemas()
	g.reserve("Error", &schema{})
	type Error struct{}
	for _, typ := range []reflect.Type{reflect.TypeFor[Leaf](), reflect.TypeFor[Error](), reflect.TypeFor[struct {
		L  Leaf  `json:"l"`
		L2 Leaf2 `json:"l2"`
	}]()} {
		if _, err := g.of(typ); err != nil {
			t.Fatal(err)
		}
	}
	names := map[string]bool{}
	for _, n := range g.names {
		names[n] = true
	}
	for _, want := range []string{"Leaf", "openapi_Error", "openapi_Leaf"} {
		if !names[want] {
			t.Errorf("component names %v lack %q", names, want)
		}
	}
	if len(g.names) != 3 || len(g.components) != 4 {
		t.Errorf("names %v, components %d; want 3 named types and 4 components", g.names, len(g.components))
	}
}

type Leaf2 = Leaf
