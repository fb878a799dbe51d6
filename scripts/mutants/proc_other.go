//go:build !unix

package main

import (
	"os/exec"
	"time"
)

// killGroup kills only go test itself where process groups are not
// available; its test binary may finish on its own after a timeout.
func killGroup(cmd *exec.Cmd) { cmd.WaitDelay = 5 * time.Second }
