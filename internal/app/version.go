package app

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
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
	bi, _ := debug.ReadBuildInfo()
	v, c, d := buildStamps(Version, Commit, Date, bi)
	_, err := fmt.Fprintf(stdout, "sluice %s\ncommit %s\nbuilt %s\ngo %s %s/%s\n",
		v, c, d, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}

// buildStamps returns the version, commit and date to print. What -ldflags
// -X set wins; a binary built without it (go install ...@v1.2.3, go build
// in a checkout) falls back to what the go command recorded: the module's
// version and the VCS revision and commit time.
func buildStamps(version, commit, date string, bi *debug.BuildInfo) (string, string, string) {
	if bi == nil {
		return version, commit, date
	}
	if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && commit == "unknown" && s.Value != "":
			commit = s.Value[:min(len(s.Value), 12)]
		case s.Key == "vcs.time" && date == "unknown" && s.Value != "":
			date = s.Value
		}
	}
	return version, commit, date
}
