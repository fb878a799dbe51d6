package admin

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Admin bodies get the data plane's bounds: at most 64 KiB, at most 128
// levels of nesting, known fields only, one object.
func TestDecodeBody(t *testing.T) {
	type body struct {
		Name string `json:"name"`
		Meta any    `json:"meta"`
	}
	cases := []struct {
		name, in string
		ok       bool
		want     string
	}{
		{"plain", `{"name":"a"}`, true, ""},
		{"nested within bound", `{"meta":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, true, ""},
		{"too deep", `{"meta":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, false, "deeper than 128"},
		{"unknown field", `{"name":"a","spend":1}`, false, "unknown field"},
		{"two objects", `{"name":"a"}{"name":"b"}`, false, ""},
		{"too large", `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, false, "64 KiB"},
		{"not json", `{"name":`, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/admin/v1/orgs", strings.NewReader(tc.in))
			var v body
			err := decodeBody(httptest.NewRecorder(), r, &v)
			if tc.ok {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest || !strings.Contains(he.msg, tc.want) {
				t.Fatalf("err = %#v, want a 400 containing %q", err, tc.want)
			}
		})
	}
}
