package proc

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a parenthesis, utime 250, stime 50.
	stat := "1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 99 1000000 300 18446744073709551615\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Fatalf("parseStatCPU = %v, want %v", got, want)
	}
}

func TestSelf(t *testing.T) {
	pid := os.Getpid()
	if _, err := CPUTime(pid); err != nil {
		t.Fatal(err)
	}
	rss, peak, err := Memory(pid)
	if err != nil || rss <= 0 || peak < rss {
		t.Fatalf("Memory = %d, %d, %v", rss, peak, err)
	}
	if _, err := NoFileLimit(pid); err != nil {
		t.Fatal(err)
	}
}
