package main

import (
	"strings"
	"testing"
)

func TestParseEquivalents(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{
			name: "entries, comments and blank lines",
			in: "# header\n\ninternal/p/p.go:4: flip comparison: `a > b` -> `a >= b`  # a == b returns the same value either way\n" +
				"internal/p/p.go:9: remove call: `log(\"a #b\")`  # only logs (as in  #12)\n",
			want: map[string]string{
				"internal/p/p.go:4: flip comparison: `a > b` -> `a >= b`": "a == b returns the same value either way",
				"internal/p/p.go:9: remove call: `log(\"a #b\")`":         "only logs (as in  #12)",
			},
		},
		{name: "no reason", in: "internal/p/p.go:4: flip comparison: `a > b` -> `a >= b`\n", wantErr: "line 1: no reason"},
		{name: "empty reason", in: "\ninternal/p/p.go:4: return early: f  #  \n", wantErr: "line 2: no reason"},
		{name: "no line number", in: "p.go flip  # why\n", wantErr: "want file:line: description"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEquivalents(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d entries %v, want %d", len(got), got, len(tc.want))
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: reason %q, want %q", k, got[k], v)
				}
			}
		})
	}
}
