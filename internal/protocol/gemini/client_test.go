package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/llm"
)

// TestClientGolden: testdata/client/*.txtar hold a Gemini client request
// ("request.json", with the URL's model in "model"), and optionally a
// canonical answer ("response.json") and canonical stream ("events.json").
// The outputs are the canonical request ("canonical.json", or
// "error.json"), the Gemini answer body ("body.json") and the Gemini SSE
// stream ("stream.sse"). Decode -> encode -> decode must give the same
// canonical request, unless a "not-fixed-point" section says why not.
func TestClientGolden(t *testing.T) {
	goldenCases(t, "client", func(t *testing.T, a *archive) {
		model := strings.TrimSpace(a.files["model"])
		req, err := Client.DecodeRequest([]byte(a.files["request.json"]), model)
		if err != nil {
			a.drop("canonical.json")
			a.set("error.json", errorJSON(t, err))
			var le *llm.Error
			if !errors.As(err, &le) || le.Status != 400 {
				t.Errorf("error %v is not an *llm.Error with status 400", err)
			}
		} else {
			a.drop("error.json")
			a.set("canonical.json", indentJSON(t, req))
			if _, ok := a.files["not-fixed-point"]; !ok {
				checkFixedPoint(t, req, model)
			}
		}
		if in, ok := a.files["response.json"]; ok {
			var resp llm.Response
			if err := json.Unmarshal([]byte(in), &resp); err != nil {
				t.Fatalf("response.json: %v", err)
			}
			body, err := Client.EncodeResponse(req, &resp)
			if err != nil {
				a.set("body.json", errorJSON(t, err))
			} else {
				a.set("body.json", indentRaw(t, body))
			}
		}
		if in, ok := a.files["events.json"]; ok {
			var out bytes.Buffer
			w := Client.NewStreamWriter(&out, req)
			for _, e := range fromEventJSON(t, in) {
				if err := w.Write(e); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Contains(out.Bytes(), []byte("\r\n\r\n")) {
				t.Error("the stream's events are not separated by CRLF CRLF as Gemini's are")
			}
			a.set("stream.sse", sseForFile(out.Bytes()))
		}
	})
}

// checkFixedPoint: decode -> encode -> decode gives the same canonical
// request, and encoding that gives the same body.
func checkFixedPoint(t *testing.T, req *llm.Request, model string) {
	t.Helper()
	body, err := Upstream.EncodeRequest(req, model)
	if err != nil {
		t.Fatalf("EncodeRequest of the decoded request: %v", err)
	}
	again, err := Client.DecodeRequest(body, model)
	if err != nil {
		t.Fatalf("DecodeRequest of %s: %v", body, err)
	}
	if d := cmp.Diff(req, again); d != "" {
		t.Errorf("decode -> encode -> decode is not a fixed point (-first +second):\n%s\nbody: %s", d, body)
	}
}

// TestStreamWriterFail: Fail writes Google's error envelope as a last
// chunk, never a finishReason.
func TestStreamWriterFail(t *testing.T) {
	var out bytes.Buffer
	w := Client.NewStreamWriter(&out, &llm.Request{Model: "gemini-2.5-flash"})
	for _, e := range []llm.Event{
		{Type: llm.EvStart, ID: "r1", Model: "gemini-2.5-flash"},
		{Type: llm.EvBlockStart, Index: 0, Block: &llm.Part{Type: llm.PartText}},
		{Type: llm.EvTextDelta, Index: 0, Text: "Hel"},
	} {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Fail(&llm.Error{Status: 502, Type: "server", Message: "upstream cut the stream"}); err != nil {
		t.Fatal(err)
	}
	want := "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hel\"}]},\"index\":0}],\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}\r\n\r\n" +
		"data: {\"error\":{\"code\":502,\"message\":\"upstream cut the stream\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n"
	if got := out.String(); got != want {
		t.Errorf("stream:\n%q\nwant\n%q", got, want)
	}
	// Read back, the stream has the error and is not done.
	evs, r, err := readStream(out.Bytes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Done() {
		t.Error("a failed stream reads as Done")
	}
	last := evs[len(evs)-1]
	if last.Type != llm.EvError || last.Err.Status != 502 {
		t.Errorf("last event %+v, want the error", last)
	}
	// A second failure writes nothing: the first error ended the stream.
	before := out.Len()
	if err := w.Fail(nil); err != nil {
		t.Fatal(err)
	}
	if out.Len() != before {
		t.Errorf("a second Fail wrote %q", out.String()[before:])
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestStreamWriterReportsWriteErrors(t *testing.T) {
	w := Client.NewStreamWriter(failingWriter{}, nil)
	if err := w.Write(llm.Event{Type: llm.EvTextDelta, Text: "x"}); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Write = %v, want the writer's error", err)
	}
	if err := w.Fail(&llm.Error{Status: 500, Message: "x"}); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Fail = %v, want the writer's error", err)
	}
}

func TestNames(t *testing.T) {
	if Client.Name() != "gemini" || Upstream.Name() != "gemini" {
		t.Error("the codecs are not named gemini")
	}
}

func TestCamel(t *testing.T) {
	for in, want := range map[string]string{
		"system_instruction":     "systemInstruction",
		"inline_data":            "inlineData",
		"mime_type":              "mimeType",
		"parameters_json_schema": "parametersJsonSchema",
		"top_k":                  "topK",
		"thoughtSignature":       "thoughtSignature",
		"_private":               "_private",
		"@type":                  "@type",
		"a__b":                   "aB",
	} {
		if got := camel(in); got != want {
			t.Errorf("camel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenAPIToJSONSchema(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{
			`{"type":"OBJECT","properties":{"snake_name":{"type":"STRING","nullable":true,"description":"d"},"list":{"type":"ARRAY","items":{"type":"INTEGER"},"max_items":3}},"required":["snake_name"],"propertyOrdering":["snake_name","list"]}`,
			`{"type":"object","properties":{"snake_name":{"type":["string","null"],"description":"d"},"list":{"type":"array","items":{"type":"integer"},"maxItems":3}},"required":["snake_name"]}`,
		},
		{`{"any_of":[{"type":"STRING"},{"type":"NUMBER","nullable":false}]}`, `{"anyOf":[{"type":"string"},{"type":"number"}]}`},
		{`{"type":"TYPE_UNSPECIFIED","enum":["A","B"]}`, `{"enum":["A","B"]}`},
		{`[1,2]`, `[1,2]`},
		{`not json`, `not json`},
	} {
		if got := string(openAPIToJSONSchema(json.RawMessage(tc.in))); got != tc.want {
			t.Errorf("openAPIToJSONSchema(%s) =\n%s\nwant\n%s", tc.in, got, tc.want)
		}
	}
}

func TestParseTreeRejectsDeepNesting(t *testing.T) {
	deep := strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2)
	if _, ok := parseTree([]byte(deep)); ok {
		t.Error("parseTree accepted nesting deeper than maxDepth")
	}
	body := `{"contents":` + deep + `}`
	if _, err := Client.DecodeRequest([]byte(body), "m"); err == nil {
		t.Error("DecodeRequest accepted a deeply nested body")
	}
}
