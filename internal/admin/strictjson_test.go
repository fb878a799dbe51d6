package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDecodeBodyRefusesRepeatedFields: a field named twice (at any depth)
// or a struct field in another case is refused 400, as the data plane
// refuses them; maps and free-form values keep names that differ in case.
func TestDecodeBodyRefusesRepeatedFields(t *testing.T) {
	type inner struct {
		Role string `json:"role"`
	}
	type embedded struct {
		Note string `json:"note"`
	}
	type body struct {
		embedded
		URL    string            `json:"url"`
		Secret *string           `json:"secret,omitempty"`
		Items  []inner           `json:"items"`
		Labels map[string]string `json:"labels"`
		Vars   json.RawMessage   `json:"variables"`
	}
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"plain", `{"url":"https://a.example/","items":[{"role":"user"}],"labels":{"a":"1","A":"2"},"variables":{"x":1,"X":2},"note":"n"}`, true},
		{"duplicate", `{"url":"https://a.example/","url":"http://127.0.0.1/"}`, false},
		{"case variant", `{"url":"https://a.example/","URL":"http://127.0.0.1/"}`, false},
		{"case variant alone", `{"URL":"https://a.example/"}`, false},
		{"case variant of a pointer field", `{"url":"https://a.example/","Secret":"s"}`, false},
		{"case variant of an embedded field", `{"NOTE":"n"}`, false},
		{"duplicate in an array's object", `{"items":[{"role":"user","role":"system"}]}`, false},
		{"case variant in an array's object", `{"items":[{"role":"user","Role":"system"}]}`, false},
		{"duplicate map key", `{"labels":{"a":"1","a":"2"}}`, false},
		{"duplicate in a free-form value", `{"variables":{"text":"a","text":"b"}}`, false},
		{"duplicate deep in a free-form value", `{"variables":{"a":[{"b":1,"b":2}]}}`, false},
		{"escaped duplicate", `{"url":"https://a.example/","\u0075rl":"http://127.0.0.1/"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/admin/v1/x", strings.NewReader(tc.in))
			var v body
			err := decodeBody(httptest.NewRecorder(), r, &v)
			if tc.ok {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest || !strings.Contains(he.msg, "repeats the field") {
				t.Fatalf("err = %#v, want a 400 naming the repeated field", err)
			}
		})
	}
}
