package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/store"
)

// tinyDisk mounts a tmpfs of size bytes and returns its path; it skips the
// test where mounting is not allowed (not root, no tmpfs).
func tinyDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { unmount(t, dir) })
	return dir
}

// unmount unmounts dir, retrying while files on it are still being
// closed; in the end it detaches it, and the kernel frees it when they are.
func unmount(t *testing.T, dir string) {
	for i := 0; ; i++ {
		out, err := exec.Command("umount", dir).CombinedOutput()
		if err == nil {
			return
		}
		if i == 20 {
			if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
				t.Errorf("umount -l %s: %v %s", dir, err, out)
			}
			t.Logf("umount %s: %v %s; detached", dir, err, out)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fill writes a file until the disk is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestWriterOnFullDisk runs the writer with SQLite and the journal on a
// real 5 MB disk that fills up and then gets space back.
func TestWriterOnFullDisk(t *testing.T) {
	disk := tinyDisk(t, "5m")
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(disk, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w, err := ledger.NewWriter(st, ledger.Options{FlushEvery: 10 * time.Millisecond, MaxBatch: 64, QueueSize: 256,
		Journal: filepath.Join(disk, "data", "ledger.journal"), RetryMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(w, 2*time.Second)
	filler := filepath.Join(disk, "filler")
	fill(t, filler)

	accepted, sent := 0, 0
	var slowest time.Duration
	record := func(n int) {
		for range n {
			e := billable(fmt.Sprintf("full-%d", sent))
			e.Error = strings.Repeat("x", 512) // entries of a realistic size
			sent++
			start := time.Now()
			if w.Record(e) {
				accepted++
			}
			slowest = max(slowest, time.Since(start))
		}
	}
	// Admit each request as the data plane does, until the ledger refuses.
	deadline := time.Now().Add(20 * time.Second)
	for w.Admit(ctx) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the ledger still admits after %d entries on a full disk: %+v", sent, w.Health())
		}
		record(16)
	}
	// The writer may not have tried the store yet when a fast producer
	// fills the queue (a loaded machine): give it a moment to fail.
	h := w.Health()
	for wait := time.Now().Add(5 * time.Second); !h.Ready && h.LastError == "" && time.Now().Before(wait); h = w.Health() {
		time.Sleep(10 * time.Millisecond)
	}
	if h.Ready || h.LastError == "" {
		t.Fatalf("health on a full disk = %+v, want not ready with the last error", h)
	}
	t.Logf("refused after %d entries: %s (last error %q)", sent, h.Reason, h.LastError)
	record(100) // requests in flight when the ledger started refusing
	if slowest > 500*time.Millisecond {
		t.Errorf("Record blocked %v on a full disk, want at most 500ms", slowest)
	}
	start := time.Now()
	if err := w.Admit(ctx); !errors.Is(err, ledger.ErrUnavailable) || time.Since(start) > time.Second {
		t.Errorf("Admit on a full disk = %v after %v, want ErrUnavailable within 1s", err, time.Since(start))
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 30*time.Second, "the ledger did not recover after space returned", func() bool {
		h := w.Health()
		return h.Ready && h.Held == 0 && h.JournalBytes == 0 && w.Pending() == 0
	})
	t.Logf("ready %v after space returned (%d accepted, %d lost)", took, accepted, w.Health().Lost)
	if err := w.Admit(ctx); err != nil {
		t.Errorf("Admit after space returned: %v", err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := st.CountRequests(ctx)
	if err != nil || n != int64(accepted) || int64(sent-accepted) != w.Health().Lost {
		t.Fatalf("store has %d entries (err %v); %d accepted, %d lost of %d sent", n, err, accepted, w.Health().Lost, sent)
	}
}
