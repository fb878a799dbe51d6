package ledger

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"
)

// errJournalFull is returned by journal.append when an append would pass
// the journal's byte cap.
var errJournalFull = errors.New("ledger journal is full")

// journal is the writer's spill file: entries that the store cannot take
// are appended to it as JSON lines and replayed into the store later.
// Appends go to path; a replay first renames path to path+".replay", so that
// appends during a replay land in a fresh file and nothing is truncated
// under a writer. Both files count against max. It is safe for concurrent
// use; replay is called by one goroutine at a time (the writer's).
type journal struct {
	path string
	max  int64

	mu   sync.Mutex // guards the fields below
	f    *os.File   // open for appending to path; nil until the first append
	size int64      // bytes in path and path+".replay"
	tail int64      // bytes in path
}

// journalRecord is an entry as the journal stores it: Entry with the
// durations that its JSON form leaves out.
type journalRecord struct {
	Entry
	LatencyUS  int64      `json:"latency_us"`
	TTFTUS     int64      `json:"ttft_us"`
	AttemptsUS [][2]int64 `json:"attempts_us,omitempty"`
}

func openJournal(path string, max int64) (*journal, error) {
	j := &journal{path: path, max: max}
	for _, p := range []string{path, path + ".replay"} {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("ledger journal: %w", err)
		default:
			j.size += fi.Size()
			if p == path {
				j.tail = fi.Size()
			}
		}
	}
	return j, nil
}

// bytes is the journal's size on disk.
func (j *journal) bytes() int64 {
	if j == nil {
		return 0
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size
}

// append writes entries at the end of the journal, all or none: a short
// write (a full disk) is cut off again.
func (j *journal) append(entries []Entry) error {
	if j == nil {
		return errors.New("no ledger journal")
	}
	if len(entries) == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range entries {
		e := &entries[i]
		rec := journalRecord{Entry: *e, LatencyUS: e.Latency.Microseconds(), TTFTUS: e.TTFT.Microseconds()}
		for _, a := range e.Attempts {
			rec.AttemptsUS = append(rec.AttemptsUS, [2]int64{a.Latency.Microseconds(), a.TTFT.Microseconds()})
		}
		if err := enc.Encode(&rec); err != nil {
			return fmt.Errorf("ledger journal: %w", err)
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.size+int64(buf.Len()) > j.max {
		return errJournalFull
	}
	if j.f == nil {
		f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("ledger journal: %w", err)
		}
		j.f = f
	}
	n, err := j.f.Write(buf.Bytes())
	if err != nil {
		if n > 0 {
			// Take back the partial line, so that the next append starts on
			// a line of its own. Truncating needs no free space.
			_ = j.f.Truncate(j.tail)
		}
		return fmt.Errorf("ledger journal: %w", err)
	}
	j.size += int64(n)
	j.tail += int64(n)
	return nil
}

// replay reads the journal and hands its entries to insert in batches of
// at most batch entries; each replayed file is removed once all its
// entries are in. On an error the file stays and the next replay starts it
// again: insert must ignore entries it already has. Lines that do not
// decode (a line cut by a crash) are skipped and counted in bad. n and bad
// count the files replayed to the end, so that a file replayed again after
// an error is counted once.
func (j *journal) replay(insert func([]Entry) error, batch int) (n, bad int, err error) {
	if j == nil {
		return 0, 0, nil
	}
	// Two rounds: a file left by an earlier replay, then what was appended
	// since. What is appended during the second round waits for the next.
	for range 2 {
		more, rn, rbad, err := j.replayOne(insert, batch)
		n, bad = n+rn, bad+rbad
		if err != nil || !more {
			return n, bad, err
		}
	}
	return n, bad, nil
}

// replayOne replays one file: path+".replay" if it exists, else path,
// renamed first. more reports whether there was a file.
func (j *journal) replayOne(insert func([]Entry) error, batch int) (more bool, n, bad int, err error) {
	rp := j.path + ".replay"
	j.mu.Lock()
	if _, err := os.Stat(rp); errors.Is(err, fs.ErrNotExist) {
		if j.f != nil {
			_ = j.f.Close()
			j.f = nil
		}
		err := os.Rename(j.path, rp)
		if errors.Is(err, fs.ErrNotExist) {
			j.mu.Unlock()
			return false, 0, 0, nil
		}
		if err != nil {
			j.mu.Unlock()
			return false, 0, 0, fmt.Errorf("ledger journal: %w", err)
		}
		j.tail = 0
	}
	j.mu.Unlock()

	f, err := os.Open(rp)
	if err != nil {
		return false, 0, 0, fmt.Errorf("ledger journal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, 0, 0, fmt.Errorf("ledger journal: %w", err)
	}
	r := bufio.NewReaderSize(f, 64<<10)
	b := make([]Entry, 0, batch)
	for {
		line, rerr := r.ReadBytes('\n')
		if len(line) > 0 {
			if e, ok := decodeRecord(line); ok {
				b = append(b, e)
			} else {
				bad++
			}
		}
		if len(b) >= batch || (rerr != nil && len(b) > 0) {
			if err := insert(b); err != nil {
				return false, 0, 0, err
			}
			n += len(b)
			b = make([]Entry, 0, batch)
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return false, 0, 0, fmt.Errorf("ledger journal: %w", rerr)
		}
	}
	if err := os.Remove(rp); err != nil {
		return false, 0, 0, fmt.Errorf("ledger journal: %w", err)
	}
	j.mu.Lock()
	j.size -= fi.Size()
	j.mu.Unlock()
	return true, n, bad, nil
}

// decodeRecord decodes one journal line; a line without its newline was
// cut by a crash.
func decodeRecord(line []byte) (Entry, bool) {
	var rec journalRecord
	if line[len(line)-1] != '\n' || json.Unmarshal(line, &rec) != nil {
		return Entry{}, false
	}
	e := rec.Entry
	e.Latency, e.TTFT = time.Duration(rec.LatencyUS)*time.Microsecond, time.Duration(rec.TTFTUS)*time.Microsecond
	for i := range e.Attempts {
		if i < len(rec.AttemptsUS) {
			e.Attempts[i].Latency = time.Duration(rec.AttemptsUS[i][0]) * time.Microsecond
			e.Attempts[i].TTFT = time.Duration(rec.AttemptsUS[i][1]) * time.Microsecond
		}
	}
	return e, true
}

// close closes the append file; the journal's files stay for the next start.
func (j *journal) close() {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f != nil {
		_ = j.f.Close()
		j.f = nil
	}
}
