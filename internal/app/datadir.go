package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// lockFileName is the file in the data directory that a running Sluice
// holds an exclusive lock on, with its process id inside.
const lockFileName = "sluice.lock"

// errDataDirInUse says that another process holds the data directory.
var errDataDirInUse = errors.New("data directory in use")

// dirLock is an exclusive, process-lifetime lock on a data directory. Two
// servers on one embedded database would each enforce every limit alone,
// doubling them; the lock makes the second one refuse to start.
type dirLock struct {
	f *os.File
}

// lockDataDir creates dir if needed and locks it, or fails naming the
// process that holds it. The operating system drops the lock when the
// process exits, however it exits.
func lockDataDir(dir string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if held {
		pid := "unknown"
		if b, err := os.ReadFile(path); err == nil {
			if p := strings.TrimSpace(string(b)); p != "" {
				pid = p
			}
		}
		f.Close()
		return nil, fmt.Errorf("%w: %s is held by another Sluice process (pid %s); stop it, or give this one its own --data-dir",
			errDataDirInUse, dir, pid)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, err
	}
	return &dirLock{f: f}, nil
}

// Close releases the lock. The file stays: removing it would let a third
// process lock a new file while a second still holds the old one.
func (l *dirLock) Close() error {
	if l == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	return l.f.Close()
}
