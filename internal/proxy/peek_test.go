package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/sluicehq/sluice/internal/auth"
)

var peekSeeds = []string{
	`{"model":"m","stream":true}`,
	`{"model":"m","model":"n"}`,
	`{"stream":false,"model":"m\u0041","stream_options":{"include_usage":true}}`,
	`{"model":1}`,
	`[1]`,
	`{"model":"m","messages":[{"role":"user","content":"{\"model\":\"x\"}"}]}`,
	`{"mod\u0065l":"a","model":"b"}`,
	`{"model":"m","max_output_tokens":9,"max_tokens":5,"max_tokens":7}`,
	`{"model":"m","max_completion_tokens":"12"}`,
	`{"model":"m","MODEL":"n"}`,
	"{\"model\":\"m\",\"\u017ftream\":true}",
	`{"model":"m","stream_options":{"include_usage":true,"Include_Usage":false}}`,
	`{"model":"m","x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
	`{"model":"m","x":` + strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200) + `}`,
	`{"model":"m","x":[` + strings.Repeat("1,", 10_000) + `1]}`,
	`{"model":"m","x":"` + strings.Repeat("x", 100_000) + `"}`,
	`{"model":"m","x":` + strings.Repeat("[", 100_000),
}

// FuzzPeek checks the property the data plane relies on: when peek accepts a
// body, the model it authorises is the model every JSON parser sees, and
// rewriting it changes only that value.
func FuzzPeek(f *testing.F) {
	for _, s := range peekSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if checkJSON(body) != nil { // the ingress's first pass
			return
		}
		p, err := peek(body)
		if err != nil {
			return
		}
		var std map[string]json.RawMessage
		if json.Unmarshal(body, &std) != nil {
			return // invalid UTF-8 and similar: gjson and encoding/json may differ on validity
		}
		var model string
		if json.Unmarshal(std["model"], &model) != nil || model != p.model.Str {
			t.Fatalf("peek saw model %q, encoding/json sees %s", p.model.Str, std["model"])
		}
		// The output limit read by the peek is the one a lookup finds.
		if !gjson.GetBytes(body, "generationConfig").Exists() {
			fs := &forwardSpec{body: body, peek: p}
			if got, want := fs.maxTokens(), requestedMaxTokens(body); got != want {
				t.Fatalf("peek read max tokens %d, a lookup %d", got, want)
			}
		}
		out := rewriteModel(body, p.model, "upstream-model")
		var after map[string]json.RawMessage
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("rewrite broke the JSON: %v\n%s", err, out)
		}
		if string(after["model"]) != `"upstream-model"` {
			t.Fatalf("rewrite gave model %s", after["model"])
		}
		for k, v := range std {
			if k != "model" && string(after[k]) != string(v) {
				t.Fatalf("rewrite changed %q: %s -> %s", k, v, after[k])
			}
		}
	})
}

func TestPeekDuplicateEscapedKey(t *testing.T) {
	if _, err := peek([]byte(`{"mod\u0065l":"a","model":"b"}`)); err == nil {
		t.Fatal("an escaped duplicate of model was accepted")
	}
}

func BenchmarkPeek(b *testing.B) {
	body := []byte(`{"model":"chat-small","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"` + string(make([]byte, 0)) + `Tell me about the weather in Paris in three sentences please."}],"temperature":0.2,"max_tokens":256}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := peek(body); err != nil {
			b.Fatal(err)
		}
	}
}

// Gemini bodies may spell the output limit either way; the reservation
// reads every spelling.
func TestRequestedMaxTokensGeminiSpellings(t *testing.T) {
	for _, body := range []string{
		`{"generationConfig":{"maxOutputTokens":777}}`,
		`{"generationConfig":{"max_output_tokens":777}}`,
		`{"generation_config":{"maxOutputTokens":777}}`,
		`{"generation_config":{"max_output_tokens":777}}`,
	} {
		if got := requestedMaxTokens([]byte(body)); got != 777 {
			t.Errorf("%s: %d, want 777", body, got)
		}
	}
}

// TestResolvedModelOwnsItsName: peek reads the body without a copy, so the
// model name that the ledger keeps (and the metrics, by label) must be a
// copy: a string into the body would keep the whole body alive in the
// ledger's queue and journal, and forever in the metrics' series cache.
func TestResolvedModelOwnsItsName(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{
		`{"model":"chat-small","messages":[{"role":"user","content":"hi"}]}`,
		`{"messages":[{"role":"user","content":"` + strings.Repeat("x", 4096) + `"}],"model":"chat-small"}`,
	} {
		c := &Call{in: inChat, w: httptest.NewRecorder(),
			r:    httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body)),
			snap: e.h.opts.Snapshots.Load()}
		c.key = c.snap.Keys[auth.HashKey(clientKey)]
		if err := e.h.resolveBody(c); err != nil {
			t.Fatal(err)
		}
		if c.entry.Model != "chat-small" {
			t.Fatalf("model %q", c.entry.Model)
		}
		start := uintptr(unsafe.Pointer(unsafe.SliceData(c.fs.body)))
		at := uintptr(unsafe.Pointer(unsafe.StringData(c.entry.Model)))
		if at >= start && at < start+uintptr(len(c.fs.body)) {
			t.Fatal("the ledger's model name points into the request body")
		}
	}
}

// peekTwoPass is peek as it was before it shared the JSON check's pass:
// checkJSON, then gjson over the whole body for the root, checkFieldsIn
// and the fields. peek must answer every body as it does.
func peekTwoPass(body []byte) (peeked, error) {
	var p peeked
	if err := checkJSON(body); err != nil {
		return p, err
	}
	root := gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body)))
	if !root.IsObject() {
		return p, errBadRequest("invalid_json", "", "The request body must be a JSON object.")
	}
	if err := checkFieldsIn(root, decidedFields, ""); err != nil {
		return p, err
	}
	var err error
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			p.model = v
		case "stream":
			switch v.Type {
			case gjson.True:
				p.stream = true
			case gjson.False, gjson.Null:
			default:
				err = errBadRequest("invalid_type", "stream", "'stream' must be a boolean.")
			}
		case "stream_options":
			p.includeUsage = v.Get("include_usage").Type == gjson.True
		case "max_tokens":
			setFirst(&p.limits[0], v)
		case "max_completion_tokens":
			setFirst(&p.limits[1], v)
		case "max_output_tokens":
			setFirst(&p.limits[2], v)
		}
		return true
	})
	if err != nil {
		return p, err
	}
	return p, p.settle() // the checks after the scan are shared; the scans are compared
}

// describe is what a client and the data plane see of a peek.
func describe(p peeked, err error) string {
	if err != nil {
		e, ok := err.(*Error)
		if !ok {
			return "error " + err.Error()
		}
		return "refused " + e.Code + " " + e.Param + " " + e.Msg
	}
	s := fmt.Sprintf("model %d %q %q @%d stream %v usage %v", p.model.Type, p.model.Raw, p.model.Str, p.model.Index, p.stream, p.includeUsage)
	for _, l := range p.limits {
		s += fmt.Sprintf(" limit %v %q %d", l.Exists(), l.Raw, l.Int())
	}
	return s
}

var onePassSeeds = append([]string{
	`{"model":"m","stream":"yes"}`,
	`{"model":"m","stream":true,"STREAM":false}`,
	`{"model":"m","stream":1,"model":"n"}`,
	`{"model":"m","stream_options":{"include_usage":true,"include_usage":false}}`,
	`{"model":"m","stream_options":[{"include_usage":true}]}`,
	`{"model":"m","generationConfig":{"maxOutputTokens":1,"max_output_tokens":2}}`,
	`{"model":"m","metadata":{"user_id":"a","USER_ID":"b"}}`,
	`{"model":"m","max_tokens":5,"max_completion_tokens":5.0}`,
	`{"model":"m","max_tokens":5,"max_completion_tokens":5}`,
	`{"model":"\ud800"}`,
	`{"model":""}`,
	`{"model":null}`,
	`{}`,
	` {"model" : "m" , "messages" : [ ] } `,
	`{"model":"m","messages":[]} x`,
	`{"model":"m",}`,
	`{"model":"m","x":"` + "\xff" + `"}`,
	`{"model":"m","\u006dessages":[]}`,
	`{"model":"m","messages":[],"messages":[]}`,
	`"model"`,
	``,
}, peekSeeds...)

// TestPeekOnePass: peek reads and checks in one pass and must answer as
// the two passes it replaces; so must checkObject (the Gemini ingress).
func TestPeekOnePass(t *testing.T) {
	for _, body := range onePassSeeds {
		comparePeek(t, []byte(body))
	}
}

func FuzzPeekOnePass(f *testing.F) {
	for _, s := range onePassSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(comparePeek)
}

func comparePeek(t *testing.T, body []byte) {
	got, want := describe(peek(body)), describe(peekTwoPass(body))
	if got != want {
		t.Fatalf("%.200q:\none pass:  %s\ntwo passes: %s", body, got, want)
	}
	var wantObj error
	if wantObj = checkJSON(body); wantObj == nil {
		if root := gjson.ParseBytes(body); !root.IsObject() {
			wantObj = errBadRequest("invalid_json", "", "The request body must be a JSON object.")
		} else {
			wantObj = checkFieldsIn(root, decidedFields, "")
		}
	}
	if got, want := describe(peeked{}, checkObject(body)), describe(peeked{}, wantObj); got != want {
		t.Fatalf("%.200q: checkObject %s, two passes %s", body, got, want)
	}
}

// BenchmarkPeekTwoPass is BenchmarkPeek's body through the two passes
// that peek replaces, for comparison.
func BenchmarkPeekTwoPass(b *testing.B) {
	body := []byte(`{"model":"chat-small","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"Tell me about the weather in Paris in three sentences please."}],"temperature":0.2,"max_tokens":256}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := peekTwoPass(body); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAppendJSONString: the model name written into a rewritten body is
// what json.Marshal writes.
func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "gpt-4o-mini", "models/gemini-2.0:flash", "a b~", `q"uote`, `back\slash`, "<tag>&", "tab\t", "del\x7f",
		"é", "\u2028", "\xff", "ctl\x01", "emoji 🙂"} {
		want, _ := json.Marshal(s)
		if got := appendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("%q: %s, json.Marshal writes %s", s, got, want)
		}
	}
}
