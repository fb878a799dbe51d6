package anthropic

import (
	"bytes"
	"slices"
	"strings"
)

// A tiny txtar: a free-form comment, then files, each introduced by a line
// "-- name --". golang.org/x/tools/txtar is not a dependency of Sluice.

type archive struct {
	comment string
	files   []archiveFile
}

type archiveFile struct {
	name string
	data string
}

func parseArchive(data []byte) *archive {
	a := &archive{}
	var cur *archiveFile
	var buf strings.Builder
	flush := func() {
		if cur == nil {
			a.comment = buf.String()
		} else {
			cur.data = buf.String()
			a.files = append(a.files, *cur)
		}
		buf.Reset()
	}
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		if name, ok := marker(line); ok {
			flush()
			cur = &archiveFile{name: name}
			continue
		}
		buf.Write(line)
	}
	flush()
	return a
}

func marker(line []byte) (string, bool) {
	s := strings.TrimRight(string(line), "\r\n")
	if !strings.HasPrefix(s, "-- ") || !strings.HasSuffix(s, " --") || len(s) < 7 {
		return "", false
	}
	return strings.TrimSpace(s[3 : len(s)-3]), true
}

func (a *archive) format() []byte {
	var b bytes.Buffer
	b.WriteString(a.comment)
	for _, f := range a.files {
		b.WriteString("-- " + f.name + " --\n")
		b.WriteString(f.data)
		if f.data != "" && !strings.HasSuffix(f.data, "\n") {
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

func (a *archive) get(name string) (string, bool) {
	for _, f := range a.files {
		if f.name == name {
			return f.data, true
		}
	}
	return "", false
}

// set replaces file name, or appends it.
func (a *archive) set(name, data string) {
	for i := range a.files {
		if a.files[i].name == name {
			a.files[i].data = data
			return
		}
	}
	a.files = append(a.files, archiveFile{name: name, data: data})
}

func (a *archive) remove(name string) {
	for i := range a.files {
		if a.files[i].name == name {
			a.files = append(a.files[:i], a.files[i+1:]...)
			return
		}
	}
}

// sort orders the files as in order; unlisted files go last.
func (a *archive) sort(order []string) {
	rank := func(name string) int {
		if i := slices.Index(order, name); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(a.files, func(x, y archiveFile) int { return rank(x.name) - rank(y.name) })
}
