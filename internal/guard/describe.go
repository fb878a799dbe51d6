package guard

// Type returns the guardrail's type (pii, regex, words, injection or
// max_size), for listing; its patterns and words stay inside.
func (g *Guard) Type() string { return g.spec.Type }
