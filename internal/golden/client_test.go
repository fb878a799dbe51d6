package golden

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/llm"
)

// echoCodec renders everything as short text naming what it was given, so
// that the runner's wiring shows in the outputs.
type echoCodec struct{}

func (echoCodec) Name() string { return "echo" }

func (echoCodec) DecodeRequest(body []byte, model string) (*llm.Request, error) {
	var r llm.Request
	if err := json.Unmarshal(body, &r); err != nil || r.Model == "" {
		return nil, &llm.Error{Status: 400, Type: "invalid_request", Param: "model", Message: "no model"}
	}
	return &r, nil
}

func (echoCodec) EncodeResponse(req *llm.Request, resp *llm.Response) ([]byte, error) {
	return json.Marshal(map[string]string{"req": req.Model, "id": resp.ID})
}

func (echoCodec) NewStreamWriter(w io.Writer, req *llm.Request) llm.StreamWriter {
	return echoWriter{w, req.Model}
}

func (echoCodec) EncodeError(e *llm.Error) []byte { return []byte(fmt.Sprintf(`{"e":%d}`, e.Status)) }

type echoWriter struct {
	w     io.Writer
	model string
}

func (w echoWriter) Write(ev llm.Event) error {
	_, err := fmt.Fprintf(w.w, "%s %d %s\n", w.model, ev.Type, ev.Text)
	return err
}

func (w echoWriter) Fail(e *llm.Error) error {
	_, err := fmt.Fprintf(w.w, "%s fail %s\n", w.model, e.Message)
	return err
}

func TestClientCodecCases(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.MkdirAll(filepath.Join("testdata", "client"), 0o755); err != nil {
		t.Fatal(err)
	}
	inputs := map[string]string{
		// A request: the answers and the stream belong to it.
		"ok": "-- request.json --\n{\"model\":\"m1\"}\n-- response.json --\n{\"id\":\"r1\"}\n" +
			"-- canonical-events.json --\n[{\"type\":\"text\",\"text\":\"hi\"},{\"type\":\"fail\",\"err\":{\"message\":\"cut\"}}]\n" +
			"-- errors.json --\n[{\"status\":429},{\"status\":500}]\n",
		// No request: the answers belong to the default model.
		"noreq": "-- response.json --\n{\"id\":\"r2\"}\n",
		// A request that does not decode: nothing else is produced.
		"bad": "-- request.json --\n{}\n-- response.json --\n{\"id\":\"r3\"}\n",
	}
	for name, in := range inputs {
		if err := os.WriteFile(filepath.Join("testdata", "client", name+".txtar"), []byte(in), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := Spec{
		Outputs: map[string]bool{"canonical.json": true, "error.json": true, "body.json": true, "stream.sse": true, "error-bodies.json": true},
		Order:   []string{"request.json", "canonical.json", "error.json", "response.json", "body.json", "canonical-events.json", "stream.sse", "errors.json", "error-bodies.json"},
	}
	var seen []string
	extra := func(t *testing.T, body []byte, req *llm.Request) {
		seen = append(seen, strings.TrimSpace(string(body))+" -> "+req.Model)
	}
	spec.ClientCodecCases(t, "client", true, echoCodec{}, "dflt", extra)

	sections := func(name string) map[string]string {
		data, err := os.ReadFile(filepath.Join("testdata", "client", name+".txtar"))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, f := range Parse(string(data)).Files {
			out[f.Name] = f.Data
		}
		return out
	}
	ok := sections("ok")
	if !strings.Contains(ok["canonical.json"], `"model": "m1"`) {
		t.Errorf("ok canonical.json = %q", ok["canonical.json"])
	}
	if want := "{\n  \"id\": \"r1\",\n  \"req\": \"m1\"\n}\n"; ok["body.json"] != want {
		t.Errorf("ok body.json = %q, want %q", ok["body.json"], want)
	}
	if want := fmt.Sprintf("m1 %d hi\nm1 fail cut\n", llm.EvTextDelta); ok["stream.sse"] != want {
		t.Errorf("ok stream.sse = %q, want %q", ok["stream.sse"], want)
	}
	if want := "{\"e\":429}\n{\"e\":500}\n"; ok["error-bodies.json"] != want {
		t.Errorf("ok error-bodies.json = %q, want %q", ok["error-bodies.json"], want)
	}
	if got := sections("noreq")["body.json"]; !strings.Contains(got, `"req": "dflt"`) {
		t.Errorf("noreq body.json = %q, want the default model", got)
	}
	bad := sections("bad")
	if _, ok := bad["body.json"]; ok || !strings.Contains(bad["error.json"], `"param": "model"`) {
		t.Errorf("bad case sections %v, want error.json and no body.json", bad)
	}
	if len(seen) != 1 || seen[0] != `{"model":"m1"} -> m1` {
		t.Errorf("extra saw %q, want the one request that decoded", seen)
	}
	// The files now match what the runner produces.
	spec.ClientCodecCases(t, "client", false, echoCodec{}, "dflt", nil)
}
