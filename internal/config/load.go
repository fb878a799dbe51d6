package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a configuration file, at a field path such
// as "providers[0].base_url".
type Problem struct {
	Path string
	Line int
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Path != "" {
		b.WriteString(p.Path)
	} else {
		b.WriteString("(file)")
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", p.Line)
	}
	b.WriteString(": ")
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is the error returned when a file is invalid. It lists every
// problem found, not only the first.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = "  - " + p.String()
	}
	return fmt.Sprintf("invalid configuration (%d problem(s)):\n%s", len(ps), strings.Join(lines, "\n"))
}

// LookupEnv resolves ${NAME} references; os.LookupEnv in production.
type LookupEnv func(name string) (string, bool)

// Load reads, decodes and validates the file at path. storedProviders
// are the providers created through the admin API, which targets may name.
func Load(path string, storedProviders ...string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, os.LookupEnv, storedProviders...)
}

// Parse decodes a configuration strictly: unknown fields, unset environment
// variables, wrong types and invalid values are all reported together.
func Parse(data []byte, env LookupEnv, storedProviders ...string) (*File, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, Problems{syntaxProblem(data, err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, Problems{{Msg: "the file is empty; it needs at least `version: 1`"}}
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, Problems{syntaxProblem(data, err)}
	default: // a second document would be ignored without a word
		return nil, Problems{{Line: next.Line, Msg: "a second YAML document (after ---); the configuration is one document"}}
	}
	root := doc.Content[0]
	var probs Problems
	walk(root, reflect.TypeFor[File](), "", env, &probs)
	var f File
	if err := root.Decode(&f); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, m := range te.Errors {
				probs = append(probs, Problem{Msg: m})
			}
		} else {
			probs = append(probs, Problem{Msg: err.Error()})
		}
	} else {
		var vp Problems
		if errors.As(f.Validate(storedProviders...), &vp) {
			probs = append(probs, vp...)
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return &f, nil
}

var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxProblem is a YAML syntax error at its line. The YAML library
// numbers the lines of its parser's errors from 0 (its scanner's from 1),
// and for a broken block mapping or sequence names the line where the
// block starts; the line that breaks it is the first one after which the
// file does not parse.
func syntaxProblem(data []byte, err error) Problem {
	m := yamlErrLine.FindStringSubmatch(err.Error())
	if m == nil {
		return Problem{Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	switch msg {
	case "did not find expected ',' or ']'", "did not find expected ',' or '}'":
		line++
		msg += " (in the flow collection that starts on this line; quote a value that holds ${...}, braces, brackets or commas)"
	case "did not find expected key", "did not find expected '-' indicator":
		line++
		lines := bytes.SplitAfter(data, []byte("\n"))
		for k := line; k <= len(lines) && k <= 5000; k++ {
			var n yaml.Node
			if yaml.Unmarshal(bytes.Join(lines[:k], nil), &n) != nil {
				line = k
				break
			}
		}
	case "did not find expected node content", "did not find expected <document start>", "did not find expected <stream-start>",
		"found duplicate %TAG directive", "found duplicate %YAML directive", "found incompatible YAML document", "found undefined tag handle":
		line++
	}
	return Problem{Line: line, Msg: "not valid YAML: " + msg}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// walk interpolates ${ENV} in scalar values and reports unknown fields, with
// field paths, by comparing mapping keys against the yaml tags of t.
func walk(n *yaml.Node, t reflect.Type, path string, env LookupEnv, probs *Problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!str" || n.Tag == "" || strings.Contains(n.Value, "${") {
			n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
				m := envRef.FindStringSubmatch(ref)
				if v, ok := env(m[1]); ok && v != "" {
					return v
				}
				if m[2] != "" {
					return m[3]
				}
				*probs = append(*probs, Problem{Path: path, Line: n.Line, Msg: fmt.Sprintf("environment variable %s is not set", m[1])})
				return ""
			})
		}
	case yaml.MappingNode:
		if t.Kind() == reflect.Map {
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), env, probs)
			}
			return
		}
		if t.Kind() != reflect.Struct {
			return // the decoder reports the type mismatch
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				*probs = append(*probs, Problem{Path: join(path, k.Value), Line: k.Line, Msg: "unknown field"})
				continue
			}
			walk(n.Content[i+1], ft, join(path, k.Value), env, probs)
		}
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice {
			return
		}
		for i, c := range n.Content {
			walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), env, probs)
		}
	}
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			for k, v := range yamlFields(f.Type) {
				m[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Duration is a time.Duration written as "30s" or "10m" in the file.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 30s or 10m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }
