package gemini

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/llm"
)

// TestEncodeRequestGolden: testdata/encode/*.txtar hold "request.json" (an
// llm.Request) and optionally "model"; the output is "body.json" or
// "error.json".
func TestEncodeRequestGolden(t *testing.T) {
	goldenCases(t, "encode", func(t *testing.T, a *archive) {
		var req llm.Request
		if err := json.Unmarshal([]byte(a.files["request.json"]), &req); err != nil {
			t.Fatalf("request.json: %v", err)
		}
		model := strings.TrimSpace(a.files["model"])
		if model == "" {
			model = req.Model
		}
		body, err := Upstream.EncodeRequest(&req, model)
		if err != nil {
			a.drop("body.json")
			a.set("error.json", errorJSON(t, err))
			return
		}
		a.drop("error.json")
		a.set("body.json", indentRaw(t, body))
		// The body must decode as a Gemini request.
		if _, err := Client.DecodeRequest(body, model); err != nil {
			t.Errorf("the encoded body does not decode: %v", err)
		}
	})
}

// TestDecodeResponseGolden: testdata/decode/*.txtar hold "body.json" (a
// Gemini answer); the output is "response.json" (an llm.Response) or
// "error.json". The answer must also survive canonical -> Gemini ->
// canonical unchanged.
func TestDecodeResponseGolden(t *testing.T) {
	goldenCases(t, "decode", func(t *testing.T, a *archive) {
		resp, err := Upstream.DecodeResponse([]byte(a.files["body.json"]))
		if err != nil {
			a.drop("response.json")
			a.set("error.json", errorJSON(t, err))
			return
		}
		a.drop("error.json")
		a.set("response.json", indentJSON(t, resp))

		again, err := Client.EncodeResponse(&llm.Request{Model: "m"}, resp)
		if err != nil {
			t.Fatalf("EncodeResponse: %v", err)
		}
		back, err := Upstream.DecodeResponse(again)
		if err != nil {
			t.Fatalf("decode of the re-encoded answer: %v", err)
		}
		if d := cmp.Diff(withoutCallIDs(resp), withoutCallIDs(back)); d != "" {
			t.Errorf("Gemini -> canonical -> Gemini -> canonical changed the answer (-first +second):\n%s\nre-encoded: %s", d, again)
		}
	})
}

// withoutCallIDs blanks tool call ids, which a Gemini client answer does
// not carry.
func withoutCallIDs(r *llm.Response) *llm.Response {
	c := *r
	c.Content = append([]llm.Part(nil), r.Content...)
	for i := range c.Content {
		c.Content[i].ToolCallID = ""
	}
	return &c
}

// readStream feeds data to a new reader in the given cuts and returns the
// events, the reader and the first error.
func readStream(data []byte, cuts []int) ([]llm.Event, llm.StreamReader, error) {
	r := Upstream.NewStreamReader()
	var evs []llm.Event
	emit := func(e llm.Event) { evs = append(evs, e) }
	prev := 0
	for _, c := range append(cuts, len(data)) {
		if err := r.Feed(data[prev:c], emit); err != nil {
			return evs, r, err
		}
		prev = c
	}
	return evs, r, nil
}

// TestStreamGolden: testdata/stream/*.txtar hold "stream.sse" (what the
// upstream sends); the outputs are "events.json", "done" and "usage.json".
// The same events must come from every way of cutting the stream, with LF
// or CRLF line ends, and from the stream the Gemini client writer renders
// from them.
func TestStreamGolden(t *testing.T) {
	goldenCases(t, "stream", func(t *testing.T, a *archive) {
		data := []byte(a.files["stream.sse"])
		evs, r, err := readStream(data, nil)
		if err != nil {
			a.set("error", err.Error()+"\n")
		} else {
			a.drop("error")
		}
		a.set("events.json", indentJSON(t, toEventJSON(evs)))
		a.set("done", strconv.FormatBool(r.Done())+"\n")
		u, ok := r.Usage()
		if ok {
			a.set("usage.json", indentJSON(t, u))
		} else {
			a.set("usage.json", "null\n")
		}

		check := func(name string, data []byte, cuts []int) {
			t.Helper()
			got, r2, err2 := readStream(data, cuts)
			if (err == nil) != (err2 == nil) {
				t.Fatalf("%s: error %v, want %v", name, err2, err)
			}
			if d := cmp.Diff(toEventJSON(evs), toEventJSON(got)); d != "" {
				t.Fatalf("%s (cuts %v): events differ (-whole +cut):\n%s", name, cuts, d)
			}
			if r2.Done() != r.Done() {
				t.Fatalf("%s: Done %v, want %v", name, r2.Done(), r.Done())
			}
		}
		bytewise := make([]int, 0, len(data))
		for i := 1; i < len(data); i++ {
			bytewise = append(bytewise, i)
		}
		check("byte by byte", data, bytewise)
		crlf := bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
		check("CRLF", crlf, nil)
		rng := rand.New(rand.NewPCG(1, uint64(len(data))))
		for range 50 {
			check("random cuts", data, randomCuts(rng, len(data)))
		}
		if err != nil {
			return
		}

		// Events -> Gemini client stream -> events: the same blocks and content.
		var out bytes.Buffer
		w := Client.NewStreamWriter(&out, &llm.Request{Model: "m"})
		for _, e := range evs {
			if err := w.Write(e); err != nil {
				t.Fatal(err)
			}
		}
		back, r3, err := readStream(out.Bytes(), nil)
		if err != nil {
			t.Fatalf("re-read: %v\n%s", err, out.Bytes())
		}
		if r3.Done() != r.Done() {
			t.Errorf("re-read Done = %v, want %v", r3.Done(), r.Done())
		}
		if d := cmp.Diff(normalizeEvents(evs), normalizeEvents(back)); d != "" {
			t.Errorf("upstream -> canonical -> Gemini client -> canonical changed the events (-first +second):\n%s\n%s", d, out.Bytes())
		}
	})
}

func randomCuts(rng *rand.Rand, n int) []int {
	if n < 2 {
		return nil
	}
	k := rng.IntN(8) + 1
	cuts := make([]int, 0, k)
	for range k {
		cuts = append(cuts, rng.IntN(n-1)+1)
	}
	for i := 1; i < len(cuts); i++ {
		for j := i; j > 0 && cuts[j] < cuts[j-1]; j-- {
			cuts[j], cuts[j-1] = cuts[j-1], cuts[j]
		}
	}
	return cuts
}

// normalizeEvents folds a stream into what a client sees: its blocks'
// content joined, in order, with the stop and usage; tool call ids and the
// start event's input-only usage are left out.
func normalizeEvents(evs []llm.Event) []string {
	var out []string
	open := map[int]*strings.Builder{}
	kinds := map[int]string{}
	for _, e := range evs {
		switch e.Type {
		case llm.EvStart:
			out = append(out, "start "+e.ID)
		case llm.EvBlockStart:
			open[e.Index] = &strings.Builder{}
			kinds[e.Index] = string(e.Block.Type) + " " + e.Block.ToolName
		case llm.EvTextDelta, llm.EvThinkingDelta, llm.EvToolArgsDelta:
			open[e.Index].WriteString(e.Text)
		case llm.EvSignatureDelta:
			open[e.Index].WriteString(" sig=" + e.Text)
		case llm.EvBlockStop:
			out = append(out, kinds[e.Index]+": "+open[e.Index].String())
		case llm.EvStop:
			u, _ := json.Marshal(e.Usage)
			out = append(out, "stop "+string(e.StopReason)+" "+string(u))
		case llm.EvError:
			out = append(out, "error "+e.Err.Error())
		}
	}
	return out
}

// TestStreamTruncated: a stream cut anywhere before its finishReason chunk
// is not Done.
func TestStreamTruncated(t *testing.T) {
	for _, data := range goldenCorpus(t, "stream", "stream.sse") {
		_, whole, err := readStream(data, nil)
		if err != nil || !whole.Done() {
			continue
		}
		last := bytes.LastIndex(bytes.TrimRight(data, "\n"), []byte("data:"))
		for cut := 0; cut <= last; cut++ {
			_, r, _ := readStream(data[:cut], nil)
			if r.Done() {
				t.Fatalf("Done after %d of %d bytes, before the last chunk:\n%s", cut, len(data), data[:cut])
			}
		}
	}
}

// TestDecodeErrorGolden: testdata/errors/*.txtar hold "status" and "body";
// the outputs are "error.json" (the llm.Error) and "client.json" (the
// error as the Gemini client codec renders it).
func TestDecodeErrorGolden(t *testing.T) {
	goldenCases(t, "errors", func(t *testing.T, a *archive) {
		status, err := strconv.Atoi(strings.TrimSpace(a.files["status"]))
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		e := Upstream.DecodeError(status, []byte(a.files["body"]))
		a.set("error.json", indentJSON(t, e))
		body := Client.EncodeError(e)
		a.set("client.json", indentRaw(t, body))
		// Gemini -> canonical -> Gemini -> canonical keeps the error's status,
		// message and field.
		if again := Upstream.DecodeError(status, body); again.Status != e.Status || again.Param != e.Param || !strings.HasSuffix(again.Message, e.Message) {
			t.Errorf("re-decoded error %+v, want %+v", again, e)
		}
	})
}

func TestCountTokens(t *testing.T) {
	req := &llm.Request{
		Model:             "gemini-2.5-flash",
		System:            []llm.Part{{Type: llm.PartText, Text: "be brief"}},
		Messages:          []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "hello"}}}},
		MaxTokens:         10,
		ParallelToolCalls: func() *bool { b := false; return &b }(),
	}
	body, err := EncodeCountTokensRequest(req, "gemini-2.5-flash")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"generateContentRequest":{"model":"models/gemini-2.5-flash","contents":[{"role":"user","parts":[{"text":"hello"}]}],"systemInstruction":{"parts":[{"text":"be brief"}]}}}`
	if string(body) != want {
		t.Errorf("EncodeCountTokensRequest =\n%s\nwant\n%s", body, want)
	}
	for _, tc := range []struct {
		name, body string
		wantErr    bool
	}{
		{"generateContentRequest", string(body), false},
		{"contents", `{"contents":[{"parts":[{"text":"hello"}]}]}`, false},
		{"snake case, safety ignored", `{"generate_content_request":{"model":"models/gemini-2.5-flash","contents":{"parts":{"text":"hello"}},"safety_settings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]}}`, false},
		{"both", `{"contents":[{"parts":[{"text":"a"}]}],"generateContentRequest":{"contents":[{"parts":[{"text":"b"}]}]}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeCountTokensRequest([]byte(tc.body), "gemini-2.5-flash")
			if tc.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Model != "gemini-2.5-flash" || len(got.Messages) != 1 || got.Messages[0].Content[0].Text != "hello" {
				t.Errorf("decoded %+v", got)
			}
		})
	}
	if got := string(EncodeCountTokensResponse(42)); got != `{"totalTokens":42}` {
		t.Errorf("EncodeCountTokensResponse = %s", got)
	}
	for body, want := range map[string]int64{`{"totalTokens":42,"promptTokensDetails":[{"modality":"TEXT","tokenCount":42}]}`: 42, `{}`: 0} {
		n, err := DecodeCountTokensResponse([]byte(body))
		if err != nil || n != want {
			t.Errorf("DecodeCountTokensResponse(%s) = %d, %v; want %d", body, n, err, want)
		}
	}
	if _, err := DecodeCountTokensResponse([]byte(`nope`)); err == nil {
		t.Error("DecodeCountTokensResponse accepted a non-JSON body")
	}
}

func TestUsesThinkingLevel(t *testing.T) {
	for model, want := range map[string]bool{
		"gemini-2.5-flash":         false,
		"gemini-2.0-flash":         false,
		"gemini-3-pro-preview":     true,
		"gemini-3.1-flash":         true,
		"models/gemini-10-ultra":   true,
		"gemini-flash-latest":      false,
		"tunedModels/my-model-xyz": false,
	} {
		if got := usesThinkingLevel(model); got != want {
			t.Errorf("usesThinkingLevel(%q) = %v, want %v", model, got, want)
		}
	}
}
