package llm

import "testing"

func TestErrorTypeForStatus(t *testing.T) {
	for status, want := range map[int]string{
		400: "invalid_request", 401: "authentication", 403: "permission", 404: "not_found", 409: "invalid_request",
		413: "request_too_large", 422: "invalid_request", 429: "rate_limit", 500: "server", 502: "server",
		503: "overloaded", 504: "server", 529: "overloaded",
	} {
		if got := ErrorTypeForStatus(status); got != want {
			t.Errorf("ErrorTypeForStatus(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestErrorConstructors(t *testing.T) {
	cases := []struct {
		name    string
		err     *Error
		message string
		text    string
	}{
		{"unsupported", Unsupported("tools[0].type", "type %q cannot be translated", "computer"),
			`type "computer" cannot be translated`, `tools[0].type: type "computer" cannot be translated`},
		{"invalid", Invalid("max_tokens", "must be positive, got %d", -1),
			"must be positive, got -1", "max_tokens: must be positive, got -1"},
		{"no param", &Error{Status: 502, Type: "server", Message: "upstream broke"}, "upstream broke", "upstream broke"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err.Message != tc.message || tc.err.Error() != tc.text {
				t.Errorf("Message %q, Error() %q; want %q, %q", tc.err.Message, tc.err.Error(), tc.message, tc.text)
			}
			if tc.name != "no param" && (tc.err.Status != 400 || tc.err.Type != "invalid_request") {
				t.Errorf("status/type = %d/%s, want 400/invalid_request", tc.err.Status, tc.err.Type)
			}
		})
	}
}
