// Package proc starts and stops the benchmark's child processes and reads
// their CPU time and memory from /proc (Linux only).
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat. It is 100 on
// every Linux architecture Go supports (the kernel's USER_HZ, what
// sysconf(_SC_CLK_TCK) returns), and reading it without cgo is not possible.
const userHZ = 100

// RaiseNoFile sets this process's soft limit on open files to the hard
// limit and returns the new soft limit. Because it calls setrlimit
// explicitly, the Go runtime does not restore the original limit in child
// processes, so children started afterwards inherit the raised limit.
func RaiseNoFile() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Cur, nil
}

// CPUTime returns the user plus system CPU time of process pid, all threads,
// at 10 ms resolution.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

func parseStatCPU(b []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces;
	// fields after it start with field 3 (state). utime and stime are
	// fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("proc: malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("proc: short stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("proc: stat: %w", err)
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// Memory returns the resident set size and its peak since the process started
// or since the last ResetPeak (VmRSS and VmHWM of /proc/<pid>/status), in bytes.
func Memory(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	return statusKB(b, "VmRSS:") * 1024, statusKB(b, "VmHWM:") * 1024, nil
}

func statusKB(b []byte, key string) int64 {
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

// ResetPeak resets VmHWM of process pid to its current RSS (writing 5 to
// /proc/<pid>/clear_refs, Linux 4.0+), so that the next Memory reports the
// peak of what happens from now on.
func ResetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// NoFileLimit returns the soft "Max open files" limit of process pid.
func NoFileLimit(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return f[0], nil
			}
		}
	}
	return "", errors.New("proc: no Max open files line")
}
