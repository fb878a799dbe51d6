package config

import (
	"strings"
	"testing"
)

// Targets may name providers stored through the admin API; the file may
// not declare one of those names.
func TestStoredProviderNames(t *testing.T) {
	const file = `version: 1
providers: [{name: demo, type: demo}]
models:
  - {name: m, targets: [{provider: stored-p, model: x}, {provider: demo, model: y}]}
`
	if _, err := Parse([]byte(file), storedNoEnv); err == nil || !strings.Contains(err.Error(), `models[0].targets[0].provider: no provider named "stored-p"`) {
		t.Fatalf("without stored providers: %v", err)
	}
	if _, err := Parse([]byte(file), storedNoEnv, "stored-p"); err != nil {
		t.Fatalf("with stored-p stored: %v", err)
	}
	if _, err := Parse([]byte(file), storedNoEnv, "stored-p", "demo"); err == nil || !strings.Contains(err.Error(), "providers[0].name") {
		t.Fatalf("a file provider with a stored provider's name: %v", err)
	}
}

func storedNoEnv(string) (string, bool) { return "", false }
