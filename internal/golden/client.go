package golden

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/llm"
)

// ClientCodecCases runs every testdata/<dir>/*.txtar through a client
// codec, as a subtest each:
//
//	request.json          -> DecodeRequest  -> canonical.json (or error.json, and nothing else)
//	response.json         -> EncodeResponse -> body.json
//	canonical-events.json -> NewStreamWriter -> stream.sse
//	errors.json           -> EncodeError    -> error-bodies.json (one body a line)
//
// Answers and streams belong to the decoded request, or to a request for
// model when the case has no request.json. extra, when not nil, is called
// with each request body that decodes and what it decoded to, for checks
// of the protocol's own.
func (s Spec) ClientCodecCases(t *testing.T, dir string, update bool, codec llm.ClientCodec, model string,
	extra func(t *testing.T, body []byte, req *llm.Request)) {
	t.Helper()
	for _, path := range Files(t, dir) {
		t.Run(CaseName(path), func(t *testing.T) {
			s.Run(t, path, update, func(t *testing.T, a *Archive) map[string]string {
				return clientOutputs(t, a, codec, model, extra)
			})
		})
	}
}

func clientOutputs(t *testing.T, a *Archive, codec llm.ClientCodec, model string,
	extra func(t *testing.T, body []byte, req *llm.Request)) map[string]string {
	t.Helper()
	out := map[string]string{}
	req := &llm.Request{Model: model}
	if body, ok := a.Get("request.json"); ok {
		r, err := codec.DecodeRequest([]byte(body), "")
		if err != nil {
			out["error.json"] = ErrorJSON(t, err)
			return out
		}
		out["canonical.json"] = IndentJSON(t, r)
		if extra != nil {
			extra(t, []byte(body), r)
		}
		req = r
	}
	if s, ok := a.Get("response.json"); ok {
		var resp llm.Response
		if err := json.Unmarshal([]byte(s), &resp); err != nil {
			t.Fatalf("response.json: %v", err)
		}
		body, err := codec.EncodeResponse(req, &resp)
		if err != nil {
			t.Fatalf("EncodeResponse: %v", err)
		}
		out["body.json"] = IndentRaw(t, body)
	}
	if s, ok := a.Get("canonical-events.json"); ok {
		var buf bytes.Buffer
		if err := WriteEvents(codec.NewStreamWriter(&buf, req), ParseEvents(t, s)); err != nil {
			t.Fatalf("write: %v", err)
		}
		out["stream.sse"] = buf.String()
	}
	if s, ok := a.Get("errors.json"); ok {
		var errs []llm.Error
		if err := json.Unmarshal([]byte(s), &errs); err != nil {
			t.Fatalf("errors.json: %v", err)
		}
		var b strings.Builder
		for i := range errs {
			b.Write(codec.EncodeError(&errs[i]))
			b.WriteByte('\n')
		}
		out["error-bodies.json"] = b.String()
	}
	return out
}
