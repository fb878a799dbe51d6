package bedrock

import (
	"bytes"
	"os"
	"strings"
)

// archive is a txtar file: a comment, then sections that each start with a
// line "-- name --". (golang.org/x/tools/txtar is not a dependency.)
type archive struct {
	comment  string
	sections []section
}

type section struct {
	name string
	data string
}

func parseArchive(data string) *archive {
	a := &archive{}
	cur := -1
	var b strings.Builder
	flush := func() {
		if cur < 0 {
			a.comment = b.String()
		} else {
			a.sections[cur].data = b.String()
		}
		b.Reset()
	}
	for line := range strings.Lines(data) {
		trimmed := strings.TrimRight(line, "\r\n")
		if name, ok := sectionName(trimmed); ok {
			flush()
			a.sections = append(a.sections, section{name: name})
			cur = len(a.sections) - 1
			continue
		}
		b.WriteString(line)
	}
	flush()
	return a
}

func sectionName(line string) (string, bool) {
	rest, ok := strings.CutPrefix(line, "-- ")
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, " --")
	if !ok || strings.TrimSpace(name) == "" {
		return "", false
	}
	return strings.TrimSpace(name), true
}

func readArchive(path string) (*archive, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseArchive(string(b)), nil
}

// get returns the data of section name.
func (a *archive) get(name string) (string, bool) {
	for _, s := range a.sections {
		if s.name == name {
			return s.data, true
		}
	}
	return "", false
}

// set replaces (or appends) section name.
func (a *archive) set(name, data string) {
	if data != "" && !strings.HasSuffix(data, "\n") {
		data += "\n"
	}
	for i := range a.sections {
		if a.sections[i].name == name {
			a.sections[i].data = data
			return
		}
	}
	a.sections = append(a.sections, section{name: name, data: data})
}

func (a *archive) bytes() []byte {
	var b bytes.Buffer
	b.WriteString(a.comment)
	for _, s := range a.sections {
		b.WriteString("-- " + s.name + " --\n")
		b.WriteString(s.data)
	}
	return b.Bytes()
}
