package app

import (
	"bytes"
	"context"
	"errors"
	"runtime"
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
