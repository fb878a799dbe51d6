//go:build unix

package main

import (
	"os/exec"
	"syscall"
	"time"
)

// killGroup makes cancelling cmd kill its whole process group: go test
// starts the test binary as a child, which would otherwise outlive a
// timed-out mutant and keep a CPU busy.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
}
