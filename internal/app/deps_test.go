package app

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDataPlaneImportsNoConsole checks that the data plane (the proxy and
// everything it imports) builds without the admin API, sign-in or the web
// console: what the data plane and the console share lives in packages
// both may import, such as internal/throttle.
func TestDataPlaneImportsNoConsole(t *testing.T) {
	const module = "github.com/sluicehq/sluice/"
	forbidden := []string{"internal/login", "internal/admin", "internal/console", "internal/portal"}
	for _, pkg := range []string{"internal/proxy"} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 || !strings.Contains(string(out), module+"internal/runtime") {
			t.Fatalf("go list %s listed too little to judge:\n%s", pkg, out)
		}
		for _, dep := range deps {
			for _, f := range forbidden {
				if dep == module+f || strings.HasPrefix(dep, module+f+"/") {
					t.Errorf("%s imports %s (through its dependencies); the data plane must not depend on the console or sign-in", pkg, dep)
				}
			}
		}
	}
}
