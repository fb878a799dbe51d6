package fakeopenai

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func post(t *testing.T, url, body string, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestServerMatchesWire(t *testing.T) {
	srv := NewServer(Options{Chunks: 7})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	url := ts.URL + "/v1/chat/completions"
	content := "hello \"bench\" <3"
	msg, _ := json.Marshal(content)

	tests := []struct {
		name string
		body string
		hdr  map[string]string
		want []byte
	}{
		{
			name: "non-stream",
			body: `{"model":"m","messages":[{"role":"user","content":` + string(msg) + `}]}`,
			want: AppendCompletion(nil, ID(content), PromptTokens(content)),
		},
		{
			name: "stream with usage",
			body: `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":` + string(msg) + `}]}`,
			want: AppendStream(nil, content, 7, true),
		},
		{
			name: "stream without usage, chunk count by header",
			body: `{"model":"m","stream":true,"messages":[{"role":"user","content":` + string(msg) + `}]}`,
			hdr:  map[string]string{"X-Fake-Chunks": "3", "X-Fake-Chunk-Gap": "1ms"},
			want: AppendStream(nil, content, 3, false),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, got := post(t, url, tc.body, tc.hdr)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, got)
			}
			if v := Verify(got, tc.want); !v.OK() {
				t.Fatalf("verify: %+v", v)
			}
		})
	}
	if st := srv.Stats(); st.Requests != 3 || st.Streams != 2 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestJSONIsValid(t *testing.T) {
	var v any
	if err := json.Unmarshal(AppendCompletion(nil, ID("x"), 3), &v); err != nil {
		t.Fatalf("completion: %v", err)
	}
	for ev := range bytes.SplitSeq(AppendStream(nil, "x", 3, true), []byte("\n\n")) {
		data, ok := bytes.CutPrefix(ev, []byte("data: "))
		if !ok || string(data) == "[DONE]" {
			continue
		}
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
	}
}

func TestVerify(t *testing.T) {
	want := AppendStream(nil, "abc", 5, true)
	id := ID("abc")
	swapped := append(AppendChunk(nil, id, 0), AppendChunk(nil, id, 2)...)
	swapped = append(swapped, AppendChunk(nil, id, 1)...)
	swapped = append(swapped, AppendChunk(nil, id, 3)...)
	swapped = append(swapped, AppendChunk(nil, id, 4)...)
	swapped = AppendTail(swapped, id, PromptTokens("abc"), 5, true)

	tests := []struct {
		name string
		got  []byte
		want Verdict
	}{
		{"exact", want, Verdict{}},
		{"truncated", want[:len(want)/2], Verdict{Truncated: true, NoDone: true}},
		{"reordered", swapped, Verdict{Reordered: true}},
		{"rewritten", bytes.ReplaceAll(want, []byte(Model), []byte("bench-model")), Verdict{Mismatch: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := Verify(tc.got, want)
			v.Detail = ""
			if v != tc.want {
				t.Fatalf("Verify = %+v, want %+v", v, tc.want)
			}
		})
	}
}
