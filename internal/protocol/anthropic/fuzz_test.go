package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/jsonlimit"
	"github.com/sluicehq/sluice/internal/llm"
)

// seed adds the named section of every golden file to f.
func seed(f *testing.F, section string, add func(string)) {
	f.Helper()
	for _, file := range goldenFiles(f) {
		if s, ok := loadArchive(f, file).Get(section); ok {
			add(s)
		}
	}
}

// FuzzDecodeRequest: client request decoding never panics, and decode ->
// encode -> decode reaches a fixed point after one round (the first
// encoding drops what Anthropic cannot take, such as empty text blocks).
func FuzzDecodeRequest(f *testing.F) {
	seed(f, "client/request.json", func(s string) { f.Add([]byte(s)) })
	f.Add([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":""}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Client.DecodeRequest(body, "")
		if jsonlimit.Check(body, jsonlimit.MaxDepth) == nil {
			// A checked body decodes the same without the codec's own check.
			got, gotErr := Client.(llm.CheckedDecoder).DecodeCheckedRequest(body, "")
			if fmt.Sprint(gotErr) != fmt.Sprint(err) || !cmp.Equal(got, req) {
				t.Fatalf("DecodeCheckedRequest(%s) = %+v, %v; DecodeRequest %+v, %v", body, got, gotErr, req, err)
			}
		}
		if err != nil {
			return
		}
		_, _ = DecodeCountTokensRequest(body, "m")
		up, err := Upstream.EncodeRequest(req, "")
		if err != nil {
			return // for example tool arguments that are not an object
		}
		second, err := Client.DecodeRequest(up, "")
		if err != nil {
			t.Fatalf("DecodeRequest(%s): %v", up, err)
		}
		up, err = Upstream.EncodeRequest(second, "")
		if err != nil {
			t.Fatalf("EncodeRequest of a decoded encoding: %v", err)
		}
		third, err := Client.DecodeRequest(up, "")
		if err != nil {
			t.Fatalf("DecodeRequest(%s): %v", up, err)
		}
		if diff := cmp.Diff(second, third); diff != "" {
			t.Fatalf("no fixed point (-second +third):\n%s", diff)
		}
	})
}

// FuzzDecodeResponse: upstream answers never make the decoder or the
// client encoder panic.
func FuzzDecodeResponse(f *testing.F) {
	seed(f, "upstream/response.json", func(s string) { f.Add([]byte(s)) })
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := Upstream.DecodeResponse(body)
		if err != nil {
			return
		}
		out, err := Client.EncodeResponse(&llm.Request{}, resp)
		if err == nil && !json.Valid(out) {
			t.Fatalf("invalid JSON: %s", out)
		}
	})
}

// FuzzStreamReader: any bytes, cut anywhere, give the same events as when
// fed whole, never panic, and render as valid client SSE.
func FuzzStreamReader(f *testing.F) {
	seed(f, "upstream/stream.sse", func(s string) { f.Add([]byte(s), uint16(len(s)/3)) })
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		at := int(cut) % (len(data) + 1)
		whole := readStream(t, [][]byte{data})
		split := readStream(t, [][]byte{data[:at], data[at:]})
		if whole.Err == "" && split.Err == "" {
			if diff := cmp.Diff(whole, split); diff != "" {
				t.Fatalf("split at %d differs (-whole +split):\n%s", at, diff)
			}
		}
		var out bytes.Buffer
		w := Client.NewStreamWriter(&out, &llm.Request{})
		for _, ev := range whole.Events {
			if err := w.Write(ev.event()); err != nil {
				t.Fatal(err)
			}
		}
		for _, line := range strings.Split(out.String(), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok && !json.Valid([]byte(d)) {
				t.Fatalf("invalid data line %q", line)
			}
		}
	})
}

// FuzzDecodeError: any error body decodes to an error with a message.
func FuzzDecodeError(f *testing.F) {
	for _, file := range goldenFiles(f) {
		a := loadArchive(f, file)
		st, ok := a.Get("upstream/error_status")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimSpace(st))
		body, _ := a.Get("upstream/error_body")
		f.Add(n, []byte(body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := Upstream.DecodeError(status, body)
		if e == nil || e.Message == "" || e.Type == "" {
			t.Fatalf("DecodeError(%d, %q) = %+v", status, body, e)
		}
		if !json.Valid(Client.EncodeError(e)) {
			t.Fatal("EncodeError wrote invalid JSON")
		}
	})
}
