package golden

import (
	"strings"
	"testing"
)

// DepthBound checks that a request decoder refuses JSON nested deeper than
// 128 levels wherever it sits, even in a field it passes through, before
// any recursive parser sees it, and accepts 100 levels. wrap puts a JSON
// value somewhere deep inside an otherwise valid request of the protocol.
func DepthBound(t *testing.T, decode func([]byte) error, wrap func(value string) []byte) {
	t.Helper()
	tests := []struct {
		name string
		body []byte
		deep bool
	}{
		{"deep array", wrap(strings.Repeat("[", 200) + strings.Repeat("]", 200)), true},
		{"deep object", wrap(strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200)), true},
		{"9 MiB of [", []byte(`{"model":"m","x":` + strings.Repeat("[", 9<<20)), true},
		{"shallow", wrap(strings.Repeat("[", 100) + strings.Repeat("]", 100)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := decode(tc.body)
			refused := err != nil && strings.Contains(err.Error(), "deeper than 128 levels")
			if refused != tc.deep {
				t.Fatalf("deep=%v, decoder said %v", tc.deep, err)
			}
		})
	}
}
