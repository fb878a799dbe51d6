package bedrock

import (
	"os"
	"strings"

	"github.com/sluicehq/sluice/internal/golden"
)

// Golden files are txtar-like archives (internal/golden).

func readArchive(path string) (*golden.Archive, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return golden.Parse(string(b)), nil
}

// setSection replaces (or appends) a section, ending it with a newline.
func setSection(a *golden.Archive, name, data string) {
	if data != "" && !strings.HasSuffix(data, "\n") {
		data += "\n"
	}
	a.Set(name, data)
}
