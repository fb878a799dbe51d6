package translate

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/llm"
)

// canned is an upstream's answers that FuzzPairs renders for every request
// it can translate: a text answer and a tool call, complete and streamed.
type canned struct {
	bodies  [][]byte
	streams [][]byte
}

// cannedAnswers takes each upstream's answers from the golden cases.
func cannedAnswers(t testing.TB) map[string]canned {
	t.Helper()
	out := map[string]canned{}
	for _, u := range upstreamNames {
		dir := "openai_" + u
		if u == "openai" {
			dir = "anthropic_openai"
		}
		var c canned
		for _, name := range []string{"plain_text", "tools", "thinking", "stream_text", "tools_stream", "thinking_stream"} {
			data, err := os.ReadFile(filepath.Join("testdata", dir, name+".txtar"))
			if err != nil {
				t.Fatal(err)
			}
			a := parseArchive(string(data))
			if b, ok := a.get("upstream_response.json"); ok {
				c.bodies = append(c.bodies, []byte(b))
				continue
			}
			w, err := upstreamWire(u, a, map[string]string{})
			if err != nil {
				t.Fatal(err)
			}
			c.streams = append(c.streams, w)
		}
		out[u] = c
	}
	return out
}

// FuzzPairs decodes a request with a client codec and encodes it for every
// upstream the client's protocol is translated to; where that succeeds it
// renders the upstream's canned answers, complete and streamed, for the
// client. Nothing may panic, every refusal must be a 400 *llm.Error with a
// JSON body in the client's dialect, and every 2xx path must produce JSON
// (for streams, JSON in every event).
func FuzzPairs(f *testing.F) {
	for _, paths := range casePaths(f) {
		for _, path := range paths {
			data, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			client, _, _ := strings.Cut(filepath.Base(filepath.Dir(path)), "_")
			body, _ := parseArchive(string(data)).get("client_request.json")
			for i, c := range clientNames {
				if c == client {
					f.Add(uint8(i), []byte(body))
				}
			}
		}
	}
	answers := cannedAnswers(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		client := clientNames[int(which)%len(clientNames)]
		cc := clientCodecs[client]
		refused := func(stage string, err error) {
			var le *llm.Error
			if !errors.As(err, &le) {
				t.Fatalf("%s: refused with %T, not *llm.Error: %v", stage, err, err)
			}
			if le.Status != 400 {
				t.Fatalf("%s: refused with status %d, want 400: %v", stage, le.Status, le)
			}
			if b := cc.EncodeError(le); !json.Valid(b) {
				t.Fatalf("%s: the client's error body is not JSON: %q", stage, b)
			}
		}
		if _, err := cc.DecodeRequest(body, pathModel[client]); err != nil {
			refused("DecodeRequest", err)
			return
		}
		for _, upstream := range upstreamNames {
			if !translated(client, upstream) {
				continue
			}
			uc := upstreamCodecs[upstream]
			for _, stream := range []bool{false, true} {
				req, err := cc.DecodeRequest(body, pathModel[client])
				if err != nil {
					t.Fatalf("DecodeRequest failed the second time: %v", err)
				}
				req.Model, req.Stream = servedModel[upstream], stream
				ub, err := uc.EncodeRequest(req, servedModel[upstream])
				if err != nil {
					refused(upstream+" EncodeRequest", err)
					continue
				}
				if !json.Valid(ub) {
					t.Fatalf("%s: the upstream request is not JSON: %q", upstream, ub)
				}
				if !stream {
					for _, b := range answers[upstream].bodies {
						ir, err := uc.DecodeResponse(b)
						if err != nil {
							t.Fatalf("%s: a canned answer does not decode: %v", upstream, err)
						}
						if ir.Model == "" {
							ir.Model = servedModel[upstream]
						}
						out, err := cc.EncodeResponse(req, ir)
						if err != nil || !json.Valid(out) {
							t.Fatalf("%s -> %s: the answer is not JSON (%v): %q", upstream, client, err, out)
						}
					}
					continue
				}
				for _, w := range answers[upstream].streams {
					r := relay(client, upstream, req, [][]byte{w})
					if d, bad := sseDataInvalid(r.out); bad || !r.done {
						t.Fatalf("%s -> %s: the stream has an event that is not JSON (done %v): %q", upstream, client, r.done, d)
					}
				}
			}
		}
	})
}
