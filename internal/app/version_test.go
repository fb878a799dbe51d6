package app

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestVersionCommand checks that sluice version prints the build's
// version, commit and date, the values make release sets with -X.
func TestVersionCommand(t *testing.T) {
	defer func(v, c, d string) { Version, Commit, Date = v, c, d }(Version, Commit, Date)
	Version, Commit, Date = "v1.2.3", "0123abcd", "2026-12-07T14:00:00Z"
	want := "sluice v1.2.3\ncommit 0123abcd\nbuilt 2026-12-07T14:00:00Z\ngo " +
		runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	for _, tc := range []struct {
		args    []string
		want    string
		usage   bool // a usage error, exit status 2
		wantErr bool
	}{
		{args: []string{"version"}, want: want},
		{args: []string{"--version"}, want: want},
		{args: []string{"version", "extra"}, usage: true, wantErr: true},
	} {
		var out, errb bytes.Buffer
		err := Main(context.Background(), tc.args, &out, &errb)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%v: err %v", tc.args, err)
		}
		var ue usageError
		if tc.usage != errors.As(err, &ue) {
			t.Errorf("%v: usage error %v, want %v", tc.args, err, tc.usage)
		}
		if out.String() != tc.want {
			t.Errorf("%v printed %q, want %q", tc.args, out.String(), tc.want)
		}
	}
}

// TestBuildStamps checks that a binary built without -ldflags -X (go
// install ...@version) prints the version and revision the go command
// recorded, and that -X values win over them.
func TestBuildStamps(t *testing.T) {
	recorded := &debug.BuildInfo{Main: debug.Module{Path: "github.com/sluicehq/sluice", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "3f2a9c1d4e5b6a7b8c9d"}, {Key: "vcs.time", Value: "2026-12-07T14:00:00Z"}}}
	devel := &debug.BuildInfo{Main: debug.Module{Path: "github.com/sluicehq/sluice", Version: "(devel)"}}
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		wantV, wantC, wantD   string
	}{
		{"go install", "dev", "unknown", "unknown", recorded, "v1.4.0", "3f2a9c1d4e5b", "2026-12-07T14:00:00Z"},
		{"ldflags win", "v9.9.9", "abc", "2030-01-01T00:00:00Z", recorded, "v9.9.9", "abc", "2030-01-01T00:00:00Z"},
		{"checkout without vcs", "dev", "unknown", "unknown", devel, "dev", "unknown", "unknown"},
		{"no build info", "dev", "unknown", "unknown", nil, "dev", "unknown", "unknown"},
	} {
		v, c, d := buildStamps(tc.version, tc.commit, tc.date, tc.bi)
		if v != tc.wantV || c != tc.wantC || d != tc.wantD {
			t.Errorf("%s: got %q %q %q, want %q %q %q", tc.name, v, c, d, tc.wantV, tc.wantC, tc.wantD)
		}
	}
}
