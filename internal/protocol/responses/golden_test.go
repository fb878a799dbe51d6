package responses

import (
	"flag"

	"github.com/sluicehq/sluice/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the output sections of the golden files")

// goldenSpec names the sections the runs write (the others are inputs) and
// puts each output right after its input in a rewritten file.
var goldenSpec = golden.Spec{
	Outputs: map[string]bool{
		"canonical.json": true, "error.json": true, "body.json": true, "stream.sse": true,
		"upstream-request.json": true, "canonical-response.json": true, "events.json": true,
		"decoded-error.json": true, "error-bodies.json": true, "usage.json": true,
	},
	Order: []string{
		"request.json", "canonical.json", "error.json", "response.json", "body.json",
		"canonical-events.json", "stream.sse", "errors.json", "error-bodies.json",
		"canonical-request.json", "upstream-request.json", "upstream-response.json", "canonical-response.json",
		"upstream-stream.sse", "events.json", "upstream-error", "decoded-error.json", "usage.json",
	},
}
