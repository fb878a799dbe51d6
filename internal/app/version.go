package app

import (
	"fmt"
	"io"
	"runtime"
)

// Commit and Date describe the build, set like Version with -ldflags -X
// (make release and the Dockerfile do): Commit is the source revision,
// Date the build time in RFC 3339.
var (
	Commit = "unknown"
	Date   = "unknown"
)

// versionCommand prints the version, the commit and the build date, one
// "name value" pair a line, then the Go release and platform.
func versionCommand(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usageError{"usage: sluice version (it takes no arguments)"}
	}
	_, err := fmt.Fprintf(stdout, "sluice %s\ncommit %s\nbuilt %s\ngo %s %s/%s\n",
		Version, Commit, Date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
