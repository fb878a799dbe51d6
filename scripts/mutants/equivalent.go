package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Equivalents is the set of mutants known to be equivalent to the original
// program: no test can tell them apart, so they do not count in the score.
// Keys are Mutant.Key() values.
type Equivalents map[string]string

// ParseEquivalents reads lines of the form
//
//	internal/pkg/file.go:42: flip comparison: "a < b" -> "a <= b"  # why it is equivalent
//
// Blank lines and lines starting with # are ignored. The reason follows two
// spaces and a #; descriptions never hold two spaces in a row, as they are
// whitespace-collapsed. An entry without a reason is an error, so that the
// list does not turn into a place to hide survivors.
func ParseEquivalents(r io.Reader) (Equivalents, error) {
	eq := Equivalents{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.Index(line, "  #")
		if i < 0 || strings.TrimSpace(line[i+3:]) == "" {
			return nil, fmt.Errorf("line %d: no reason: write `file:line: description  # why it is equivalent`", n)
		}
		key := strings.TrimSpace(line[:i])
		if strings.Count(key, ":") < 2 {
			return nil, fmt.Errorf("line %d: want file:line: description, got %q", n, key)
		}
		eq[key] = strings.TrimSpace(line[i+3:])
	}
	return eq, sc.Err()
}
