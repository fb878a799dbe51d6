package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestRepeatedKey(t *testing.T) {
	many := func(n int, last string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < n; i++ {
			b.WriteString(`"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26)) + `":1,`)
		}
		b.WriteString(last + "}")
		return b.String()
	}
	cases := []struct {
		body, path string
	}{
		{`{"model":"m","messages":[{"role":"user","content":"a"}]}`, ""},
		{`{"messages":[{"role":"user","content":"a","content":"b"}]}`, "messages[0].content"},
		{`{"messages":[{"role":"user","content":"a","Content":"b"}]}`, "messages[0].Content"},
		{`{"messages":[{"role":"user","content":[{"type":"text","text":"a","TEXT":"b"}]}]}`, "messages[0].content[0].TEXT"},
		{`{"a":{"ſ":1,"S":2}}`, "a.S"},
		{`{"a":{"k":1,"K":2}}`, "a.K"},
		{`{"x":[[[{"y":1}],{"y":1,"z":{"q":1,"q":2}}]]}`, "x[0][1].z.q"},
		{`{"a":1,"b":{"a":1},"c":[{"a":1},{"a":1}]}`, ""}, // the same name in different objects
		{many(5000, `"tail":1`), ""},
		{many(5000, `"KAAA":1`), "KAAA"},
	}
	for _, tc := range cases {
		path, dup := repeatedKey([]byte(tc.body))
		if dup != (tc.path != "") || path != tc.path {
			t.Errorf("%.60s: got %q %v, want %q", tc.body, path, dup, tc.path)
		}
	}
}

// A guarded request whose message names "content" twice (or in two cases)
// is refused before the upstream sees it: the guardrail would read one
// value and a first-wins upstream the other. Unguarded models forward such
// bodies as before.
func TestGuardedRequestRefusesRepeatedNestedFields(t *testing.T) {
	up := &textUpstream{reply: "ok"}
	e := guardEnv(t, up, nil)
	for _, tc := range []struct {
		model, msg string
		want       int
	}{
		{"gm", `{"role":"user","content":"` + secret + `","content":"harmless"}`, http.StatusBadRequest},
		{"gm", `{"role":"user","Content":"` + secret + `","content":"harmless"}`, http.StatusBadRequest},
		{"gm", `{"role":"user","content":[{"type":"text","text":"` + secret + `","text":"harmless"}]}`, http.StatusBadRequest},
		{"gm", `{"role":"user","content":"harmless"}`, http.StatusOK},
		{"out-block", `{"role":"user","content":"x","content":"harmless"}`, http.StatusOK},
	} {
		calls := up.count()
		resp := e.post(t, "/v1/chat/completions", `{"model":"`+tc.model+`","messages":[`+tc.msg+`]}`, map[string]string{"Authorization": "Bearer " + clientKey})
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("%s %s: status %d, want %d: %s", tc.model, tc.msg, resp.StatusCode, tc.want, body)
		}
		if tc.want == http.StatusBadRequest {
			if up.count() != calls || gjson.GetBytes(body, "error.code").Str != "duplicate_key" || strings.Contains(string(body), secret) {
				t.Fatalf("%s: upstream calls %d -> %d, answer %s", tc.msg, calls, up.count(), body)
			}
		}
	}
}
