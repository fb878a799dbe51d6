package openapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/ledger"
)

var update = flag.Bool("update", false, "rewrite testdata/admin.json")

// A small admin API, enough to exercise every part of the document.
type (
	Key struct {
		ID       string     `json:"id" doc:"The key's ID."`
		Name     string     `json:"name"`
		Models   []string   `json:"models"`
		Created  time.Time  `json:"created"`
		Expires  *time.Time `json:"expires,omitempty"`
		RPM      *int       `json:"rpm" doc:"Requests per minute; null: unlimited."`
		State    string     `json:"state" enum:"active,revoked"`
		Revision int64      `json:"-"`
	}
	KeyCreate struct {
		Name   string   `json:"name"`
		Models []string `json:"models,omitempty"`
		RPM    *int     `json:"rpm,omitempty"`
	}
	KeyCreated struct {
		Key
		Secret string `json:"secret" doc:"The key itself, shown once."`
	}
	KeyPatch struct {
		Name *string           `json:"name,omitempty"`
		Meta map[string]string `json:"meta,omitempty"`
	}
	List[T any] struct {
		Object string `json:"object" enum:"list"`
		Data   []T    `json:"data"`
	}
	Login struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	Session struct {
		CSRFToken string          `json:"csrf_token"`
		Settings  json.RawMessage `json:"settings"`
	}
)

func goldenOps() []Op {
	return []Op{
		{Method: "GET", Path: "/admin/v1/keys", ID: "listKeys", Summary: "List keys", Tags: []string{"keys"},
			Query: []Param{
				{Name: "limit", Description: "At most this many, 1 to 1000.", Type: "integer"},
				{Name: "include_revoked", Type: "boolean"},
			},
			Response: List[Key]{}},
		{Method: "POST", Path: "/admin/v1/keys", ID: "createKey", Summary: "Create a key", Tags: []string{"keys"},
			Description: "The secret is in the response only.", Request: KeyCreate{}, Response: &KeyCreated{}, ResponseStatus: 201, ETag: true},
		{Method: "GET", Path: "/admin/v1/keys/{id}", ID: "getKey", Tags: []string{"keys"}, Response: Key{}, ETag: true},
		{Method: "PATCH", Path: "/admin/v1/keys/{id}", ID: "updateKey", Tags: []string{"keys"}, Request: KeyPatch{}, Response: Key{}, ETag: true},
		{Method: "DELETE", Path: "/admin/v1/keys/{id}", ID: "revokeKey", Tags: []string{"keys"}, ResponseStatus: 204, ETag: true},
		{Method: "POST", Path: "/admin/v1/login", ID: "login", Tags: []string{"session"}, Request: Login{}, Response: Session{}, Public: true},
		{Method: "GET", Path: "/admin/v1/files/{path...}", ID: "getFile", Tags: []string{"ui"}},
	}
}

func TestGolden(t *testing.T) {
	got, err := Document("Sluice admin API", "1.0.0", goldenOps())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("testdata", "admin.json")
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the document differs from %s (run with -update if the change is meant):\n%s", file, firstDiff(string(got), string(want)))
	}
	if errs := validateDocument(got); len(errs) > 0 {
		t.Errorf("the golden document is invalid:\n%s", strings.Join(errs, "\n"))
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return "line " + itoa(i+1) + ":\n got " + a + "\nwant " + b
		}
	}
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }

// allTypesOps puts every type of the reflection table into one document.
func allTypesOps() []Op {
	var ops []Op
	for i, v := range []any{Node{}, Ping{}, Embeds{}, Tie{}, TagWins{}, Tags{}, Enums{}, Page[Leaf]{}, Empty{}, []Leaf{}, map[string]*Node{}} {
		id := "op" + itoa(i)
		ops = append(ops, Op{Method: "PUT", Path: "/admin/v1/things/" + id + "/{id}", ID: id, Request: v, Response: v, ETag: i%2 == 0, Public: i%3 == 0,
			Query: []Param{{Name: "q", Type: "string", Required: true}}})
	}
	return ops
}

func TestDocumentValid(t *testing.T) {
	for name, ops := range map[string][]Op{"golden": goldenOps(), "all types": allTypesOps(), "none": nil} {
		t.Run(name, func(t *testing.T) {
			doc, err := Document("t", "v", ops)
			if err != nil {
				t.Fatal(err)
			}
			if errs := validateDocument(doc); len(errs) > 0 {
				t.Errorf("invalid document:\n%s", strings.Join(errs, "\n"))
			}
		})
	}
}

// The validator must catch what it claims to: each mutation of a valid
// document yields the expected complaint.
func TestValidatorCatches(t *testing.T) {
	base, err := Document("t", "v", goldenOps())
	if err != nil {
		t.Fatal(err)
	}
	op := func(d map[string]any, path, method string) map[string]any {
		return asMap(asMap(asMap(d["paths"])[path])[method])
	}
	for _, tc := range []struct {
		name, want string
		mutate     func(d map[string]any)
	}{
		{"openapi version", "openapi is 3.0.3", func(d map[string]any) { d["openapi"] = "3.0.3" }},
		{"dangling ref", "no such member", func(d map[string]any) {
			delete(asMap(asMap(d["components"])["schemas"]), "Key")
		}},
		{"undeclared path parameter", "path parameters declared []", func(d map[string]any) {
			op(d, "/admin/v1/keys/{id}", "get")["parameters"] = []any{}
		}},
		{"optional path parameter", "is not required", func(d map[string]any) {
			asMap(asSlice(op(d, "/admin/v1/keys/{id}", "get")["parameters"])[0])["required"] = false
		}},
		{"duplicate operationId", "also used by", func(d map[string]any) {
			op(d, "/admin/v1/keys/{id}", "get")["operationId"] = "listKeys"
		}},
		{"3.0 nullable", `"nullable" is not a JSON Schema 2020-12 keyword`, func(d map[string]any) {
			asMap(asMap(asMap(d["components"])["schemas"])["Key"])["nullable"] = true
		}},
		{"bad type", "type [string nil]", func(d map[string]any) {
			asMap(asMap(asMap(asMap(d["components"])["schemas"])["Key"])["properties"])["id"].(map[string]any)["type"] = []any{"string", "nil"}
		}},
		{"missing standard error", "no 428 response", func(d map[string]any) {
			delete(asMap(op(d, "/admin/v1/login", "post")["responses"]), "428")
		}},
		{"unknown security scheme", `unknown scheme "basic"`, func(d map[string]any) {
			op(d, "/admin/v1/login", "post")["security"] = []any{map[string]any{"basic": []any{}}}
		}},
		{"required without property", "required nope", func(d map[string]any) {
			s := asMap(asMap(asMap(d["components"])["schemas"])["Login"])
			s["required"] = append(asSlice(s["required"]), "nope")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(base, &d); err != nil {
				t.Fatal(err)
			}
			tc.mutate(d)
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			errs := validateDocument(b)
			if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, tc.want) }) {
				t.Errorf("validator said %q, want a complaint containing %q", errs, tc.want)
			}
		})
	}
}

func TestDocumentErrors(t *testing.T) {
	ok := Op{Method: "GET", Path: "/a", ID: "a"}
	for _, tc := range []struct {
		name, want string
		ops        []Op
	}{
		{"lower-case method", "upper-case", []Op{{Method: "get", Path: "/a", ID: "a"}}},
		{"no id", "no operationId", []Op{{Method: "GET", Path: "/a"}}},
		{"relative path", "does not start with /", []Op{{Method: "GET", Path: "a", ID: "a"}}},
		{"partial wildcard", "whole segment", []Op{{Method: "GET", Path: "/a/x{id}", ID: "a"}}},
		{"repeated wildcard", "repeated wildcard", []Op{{Method: "GET", Path: "/a/{id}/{id}", ID: "a"}}},
		{"rest wildcard not last", "must be last", []Op{{Method: "GET", Path: "/a/{p...}/b", ID: "a"}}},
		{"duplicate id", `duplicate operationId "a"`, []Op{ok, {Method: "POST", Path: "/b", ID: "a"}}},
		{"duplicate route", "duplicate route", []Op{ok, {Method: "GET", Path: "/a", ID: "b"}}},
		{"same shape", "only in its parameter names", []Op{{Method: "GET", Path: "/k/{id}", ID: "a"}, {Method: "DELETE", Path: "/k/{key}", ID: "b"}}},
		{"query type", `type "int"`, []Op{{Method: "GET", Path: "/a", ID: "a", Query: []Param{{Name: "n", Type: "int"}}}}},
		{"repeated query", "repeated name", []Op{{Method: "GET", Path: "/a", ID: "a", Query: []Param{{Name: "n", Type: "string"}, {Name: "n", Type: "string"}}}}},
		{"bad status", "status 600", []Op{{Method: "GET", Path: "/a", ID: "a", ResponseStatus: 600}}},
		{"unencodable body", "cannot be encoded", []Op{{Method: "POST", Path: "/a", ID: "a", Request: make(chan int)}}},
		{"every error reported", "op \"y\"", []Op{{Method: "x", Path: "/a", ID: "x"}, {Method: "y", Path: "/b", ID: "y"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Document("t", "v", tc.ops)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Document = %d bytes, %v; want an error containing %q", len(doc), err, tc.want)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	ops := append(goldenOps(), allTypesOps()...)
	first, err := Document("t", "v", ops)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		again, err := Document("t", "v", ops)
		if err != nil || !bytes.Equal(first, again) {
			t.Fatalf("run %d differs (err %v)", i, err)
		}
	}
	reversed := slices.Clone(ops)
	slices.Reverse(reversed)
	if again, err := Document("t", "v", reversed); err != nil || !bytes.Equal(first, again) {
		t.Fatalf("the op order changed the document (err %v):\n%s", err, firstDiff(string(again), string(first)))
	}
}

func TestPathsAndSecurity(t *testing.T) {
	raw, err := Document("t", "v", goldenOps())
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	paths := asMap(d["paths"])
	sec := func(path, method string) string {
		b, _ := json.Marshal(asMap(asMap(paths[path])[method])["security"])
		return string(b)
	}
	for _, tc := range []struct{ path, method, want string }{
		{"/admin/v1/keys", "get", `[{"bearerAuth":[]},{"sessionCookie":[]}]`},
		{"/admin/v1/keys", "post", `[{"bearerAuth":[]},{"csrfToken":[],"sessionCookie":[]}]`},
		{"/admin/v1/keys/{id}", "delete", `[{"bearerAuth":[]},{"csrfToken":[],"sessionCookie":[]}]`},
		{"/admin/v1/login", "post", `[]`},
	} {
		if got := sec(tc.path, tc.method); got != tc.want {
			t.Errorf("%s %s security = %s, want %s", tc.method, tc.path, got, tc.want)
		}
	}
	if _, ok := paths["/admin/v1/files/{path}"]; !ok {
		t.Errorf("{path...} not documented as /admin/v1/files/{path}; paths: %v", slices.Sorted(maps.Keys(paths)))
	}
	params := func(path, method string) (names []string) {
		for _, p := range asSlice(asMap(asMap(paths[path])[method])["parameters"]) {
			p = deref(d, p)
			names = append(names, asMap(p)["in"].(string)+":"+asMap(p)["name"].(string))
		}
		return names
	}
	for _, tc := range []struct {
		path, method string
		want         []string
	}{
		{"/admin/v1/keys", "get", []string{"query:limit", "query:include_revoked"}},
		{"/admin/v1/keys/{id}", "get", []string{"path:id"}}, // ETag on a read: no If-Match
		{"/admin/v1/keys/{id}", "patch", []string{"path:id", "header:If-Match"}},
		{"/admin/v1/keys/{id}", "delete", []string{"path:id", "header:If-Match"}},
	} {
		if got := params(tc.path, tc.method); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s parameters = %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
}

// What encoding/json writes for sample values validates against the
// schemas of the document, and a wrong value does not.
func TestBodiesMatchSchemas(t *testing.T) {
	n := 5
	when := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	name := "x"
	leaf := &Node{Name: "leaf"}
	samples := []struct {
		name    string
		value   any
		corrupt func(inst map[string]any) // nil: the value must validate
	}{
		{"key", Key{ID: "k1", Models: []string{"m"}, Created: when, RPM: &n, State: "active"}, nil},
		{"key with nulls", Key{Models: []string{}, State: "revoked", Expires: &when}, nil},
		{"key created", KeyCreated{Key: Key{Models: []string{}, State: "active"}, Secret: "gw-1"}, nil},
		{"key patch", KeyPatch{Name: &name, Meta: map[string]string{"a": "b"}}, nil},
		{"list", List[Key]{Object: "list", Data: []Key{{Models: []string{}, State: "active"}}}, nil},
		{"session", Session{Settings: json.RawMessage(`{"x":[1]}`)}, nil},
		{"tree", Node{Name: "root", Children: []*Node{leaf, nil}, Parent: leaf}, nil},
		{"ping pong", Ping{Pong: &Pong{Ping: Ping{}}}, nil},
		{"embeds", Embeds{Base: Base{ID: "i", Created: when}, Extra: &Extra{Note: "n"}, Named: Leaf{A: "a"}}, nil},
		{"embeds nil pointer", Embeds{}, nil},
		{"tags", Tags{Quoted: 7, Bytes: []byte("hi"), Dict: map[string]*Leaf{"a": nil}, IntKeys: map[int]string{1: "x"}, Text: TextID{}}, nil},
		{"enums", Enums{Color: "red", Level: 2, Maybe: &name, Many: []string{"a"}, Status: "ok", QInt: 5}, nil},
		{"embedded tie", Tie{Y: 1}, nil},
		{"embedded tagged wins", TagWins{TagB: TagB{Z: 2}}, nil},
		{"enum violated", Enums{Color: "red", Many: []string{}}, func(m map[string]any) { m["color"] = "blue" }},
		{"integer enum violated", Enums{Color: "red", Level: 1, Many: []string{}}, func(m map[string]any) { m["level"] = 4.0 }},
		{"required missing", Key{Models: []string{}, State: "active"}, func(m map[string]any) { delete(m, "id") }},
		{"unknown field", Key{Models: []string{}, State: "active"}, func(m map[string]any) { m["owner_hash"] = "x" }},
		{"not nullable", Key{Models: []string{}, State: "active"}, func(m map[string]any) { m["name"] = nil }},
		{"bad date-time", Key{Models: []string{}, State: "active"}, func(m map[string]any) { m["created"] = "yesterday" }},
		{"deep in a recursion", Node{Name: "root", Children: []*Node{leaf}}, func(m map[string]any) {
			asMap(asSlice(m["children"])[0])["name"] = 1.0
		}},
		{"ledger entry", ledger.Entry{RequestID: "r", Time: when, Status: ledger.StatusOK, Attempts: []ledger.Attempt{{N: 1}}, Latency: time.Second}, nil},
	}
	var ops []Op
	for i, s := range samples {
		ops = append(ops, Op{Method: "POST", Path: "/s/" + itoa(i), ID: "s" + itoa(i), Response: s.value})
	}
	raw, err := Document("t", "v", ops)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	bodySchema := func(i int) any {
		return asMap(asMap(asMap(asMap(asMap(asMap(asMap(d["paths"])["/s/"+itoa(i)])["post"])["responses"])["200"])["content"])["application/json"])["schema"]
	}
	for i, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			b, err := json.Marshal(s.value)
			if err != nil {
				t.Fatal(err)
			}
			var inst any
			if err := json.Unmarshal(b, &inst); err != nil {
				t.Fatal(err)
			}
			if s.corrupt != nil {
				s.corrupt(asMap(inst))
			}
			err = validateInstance(d, bodySchema(i), inst, "#")
			if s.corrupt != nil && err == nil {
				t.Errorf("the corrupted %v validated, want a rejection", inst)
			}
			if s.corrupt == nil && err != nil {
				t.Errorf("%s: %v", b, err)
			}
		})
	}
	t.Run("error body", func(t *testing.T) {
		errSchema := asMap(asMap(d["components"])["schemas"])["Error"]
		for _, b := range [][]byte{
			oa.MarshalError("admin_error", "version_mismatch", "", "If-Match does not match.", "req-1"),
			oa.MarshalError("admin_error", "", "limit", "Bad limit.", ""),
		} {
			var inst any
			if err := json.Unmarshal(b, &inst); err != nil {
				t.Fatal(err)
			}
			if err := validateInstance(d, errSchema, inst, "#"); err != nil {
				t.Errorf("%s: %v", b, err)
			}
		}
		var inst any
		_ = json.Unmarshal([]byte(`{"error":{"message":"m","type":"t","code":7,"param":null}}`), &inst)
		if err := validateInstance(d, errSchema, inst, "#"); err == nil {
			t.Errorf("a numeric code validated against the Error schema")
		}
	})
}
