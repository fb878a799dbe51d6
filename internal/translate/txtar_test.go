package translate

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// archive is a txtar file: a free-text comment, then sections that each
// start with a "-- name --" line.
type archive struct {
	comment string
	files   []section
}

type section struct {
	name string
	data string
}

// parseArchive reads a txtar file. A line "-- name --" starts a section;
// everything before the first one is the comment.
func parseArchive(data string) *archive {
	a := &archive{}
	cur := -1
	for line := range strings.Lines(data) {
		if name, ok := sectionName(line); ok {
			a.files = append(a.files, section{name: name})
			cur = len(a.files) - 1
			continue
		}
		if cur < 0 {
			a.comment += line
		} else {
			a.files[cur].data += line
		}
	}
	return a
}

func sectionName(line string) (string, bool) {
	line = strings.TrimSuffix(line, "\n")
	name, ok := strings.CutPrefix(line, "-- ")
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, " --")
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return "", false
	}
	return name, true
}

// format renders the archive; every section ends with a newline.
func (a *archive) format() string {
	var b strings.Builder
	b.WriteString(a.comment)
	for _, f := range a.files {
		fmt.Fprintf(&b, "-- %s --\n", f.name)
		b.WriteString(f.data)
		if f.data != "" && !strings.HasSuffix(f.data, "\n") {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func (a *archive) get(name string) (string, bool) {
	for _, f := range a.files {
		if f.name == name {
			return f.data, true
		}
	}
	return "", false
}

func (a *archive) has(name string) bool {
	_, ok := a.get(name)
	return ok
}

// set replaces a section or adds it.
func (a *archive) set(name, data string) {
	for i := range a.files {
		if a.files[i].name == name {
			a.files[i].data = data
			return
		}
	}
	a.files = append(a.files, section{name: name, data: data})
}

func (a *archive) remove(name string) {
	a.files = slices.DeleteFunc(a.files, func(f section) bool { return f.name == name })
}

// sectionOrder is the order of the sections in a case file: inputs, then
// what Sluice sends the upstream, the upstream's answer, and what the
// client receives.
var sectionOrder = []string{
	"known_bug",
	"client_request.json",
	"want_error.json",
	"upstream_request.json",
	"upstream_status",
	"upstream_response.json",
	"upstream_stream.txt",
	"upstream_events.txt",
	"upstream_stream.hex",
	"client_status",
	"client_response.json",
	"client_stream.txt",
}

func sectionRank(name string) int {
	if i := slices.Index(sectionOrder, name); i >= 0 {
		return i
	}
	return len(sectionOrder)
}

func (a *archive) sort() {
	slices.SortStableFunc(a.files, func(x, y section) int { return sectionRank(x.name) - sectionRank(y.name) })
}

// crMark stands for a carriage return in stream sections.
const crMark = "␍"

// streamText renders wire bytes for a stream section.
func streamText(b []byte) string { return strings.ReplaceAll(string(b), "\r", crMark) }

// streamBytes reads a stream section back into wire bytes.
func streamBytes(s string) []byte { return []byte(strings.ReplaceAll(s, crMark, "\r")) }

// hexDump renders b as lines of 32 bytes in hex.
func hexDump(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		n := min(32, len(b))
		sb.WriteString(hex.EncodeToString(b[:n]))
		sb.WriteByte('\n')
		b = b[n:]
	}
	return sb.String()
}

// hexBytes reads a hex dump, ignoring white space.
func hexBytes(s string) ([]byte, error) {
	return hex.DecodeString(strings.Join(strings.Fields(s), ""))
}

func TestArchiveRoundTrip(t *testing.T) {
	in := "A comment.\n-- a.json --\n{}\n-- b --\nline 1\n-- not a -- section\n-- c --\n"
	a := parseArchive(in)
	if a.comment != "A comment.\n" || len(a.files) != 3 {
		t.Fatalf("parsed %q into %+v", in, a)
	}
	if b, _ := a.get("b"); b != "line 1\n-- not a -- section\n" {
		t.Errorf("section b = %q", b)
	}
	if got := a.format(); got != in {
		t.Errorf("format() = %q, want %q", got, in)
	}
	a.set("d", "no newline")
	a.remove("a.json")
	if got, want := a.format(), "A comment.\n-- b --\nline 1\n-- not a -- section\n-- c --\n-- d --\nno newline\n"; got != want {
		t.Errorf("after set and remove: %q, want %q", got, want)
	}
	raw := []byte{0, 1, 2, 0xfe, 0xff}
	back, err := hexBytes(hexDump(bytes.Repeat(raw, 20)))
	if err != nil || !bytes.Equal(back, bytes.Repeat(raw, 20)) {
		t.Errorf("hex round trip: %v", err)
	}
	if s := streamText([]byte("data: x\r\n\r\n")); s != "data: x␍\n␍\n" || string(streamBytes(s)) != "data: x\r\n\r\n" {
		t.Errorf("carriage return marks: %q", s)
	}
}
