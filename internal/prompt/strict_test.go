package prompt

import (
	"encoding/json"
	"testing"
)

// StrictVariables shows the schema as it validates: objects closed where
// strictness closes them, an explicit choice kept, numbers as written.
func TestStrictVariables(t *testing.T) {
	tests := []struct{ schema, want string }{
		{`{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"integer","maximum":12345678901234567}}}}}`,
			`{"additionalProperties":false,"properties":{"a":{"additionalProperties":false,"properties":{"b":{"maximum":12345678901234567,"type":"integer"}},"type":"object"}},"type":"object"}`},
		{`{"type":"object","additionalProperties":true}`, `{"additionalProperties":true,"type":"object"}`},
		{``, `{"additionalProperties":false,"properties":{},"type":"object"}`},
	}
	for _, tt := range tests {
		c, err := Compile(Version{Model: "m", Messages: []Message{{Role: "user", Content: "hi"}}, Variables: json.RawMessage(tt.schema)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.StrictVariables()
		if err != nil || string(got) != tt.want {
			t.Errorf("StrictVariables(%s) = %s, %v, want %s", tt.schema, got, err, tt.want)
		}
	}
}
