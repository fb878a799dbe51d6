package prompt

import "testing"

func TestReadAnswer(t *testing.T) {
	for _, tc := range []struct {
		status     int
		body, text string
		in, out    int64
		err        string
	}{
		{200, `{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}`, "hi", 3, 1, ""},
		{200, `{"choices":[],"usage":{}}`, "", 0, 0, ""},
		{429, `{"error":{"message":"slow down"}}`, "", 0, 0, "HTTP 429: slow down"},
		{503, `{}`, "", 0, 0, "HTTP 503"},
		{502, `<html>`, "", 0, 0, "HTTP 502: not a chat completion"},
	} {
		var o Outcome
		err := ReadAnswer(&o, tc.status, []byte(tc.body))
		if got := ""; err != nil {
			got = err.Error()
			if got != tc.err {
				t.Errorf("%s: error %q, want %q", tc.body, got, tc.err)
			}
		} else if tc.err != "" {
			t.Errorf("%s: no error, want %q", tc.body, tc.err)
		}
		if o.Text != tc.text || o.InputTokens != tc.in || o.OutputTokens != tc.out {
			t.Errorf("%s: %+v", tc.body, o)
		}
	}
}
