package proxy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Limits on the request path's functions: a function longer than
// maxFuncLines or with more than maxFuncParams parameters (the receiver
// not counted) is split, or its state gathered in a struct.
const (
	maxFuncLines  = 80
	maxFuncParams = 5
)

// shapeExceptions are the functions allowed past the limits, each with its
// reason. The list only shrinks.
var shapeExceptions = map[string]string{
	"jsonChecker.step": "a byte-level JSON state machine: one switch over its states reads best whole",
}

// funcShape is one function's size as the shape test measures it.
type funcShape struct {
	name   string // Recv.Name or Name
	pos    string
	lines  int
	params int
}

// funcShapes measures every function declared in the given Go source.
func funcShapes(fset *token.FileSet, f *ast.File) []funcShape {
	var out []funcShape
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		name := fd.Name.Name
		if fd.Recv != nil && len(fd.Recv.List) > 0 {
			t := fd.Recv.List[0].Type
			if st, ok := t.(*ast.StarExpr); ok {
				t = st.X
			}
			if id, ok := t.(*ast.Ident); ok {
				name = id.Name + "." + name
			}
		}
		params := 0
		for _, p := range fd.Type.Params.List {
			params += max(len(p.Names), 1)
		}
		start, end := fset.Position(fd.Pos()), fset.Position(fd.End())
		out = append(out, funcShape{name: name, pos: start.String(), lines: end.Line - start.Line + 1, params: params})
	}
	return out
}

// shapeViolations lists the functions of the given source that pass the
// limits and are not excepted.
func shapeViolations(fset *token.FileSet, f *ast.File) []string {
	var bad []string
	for _, s := range funcShapes(fset, f) {
		if _, ok := shapeExceptions[s.name]; ok {
			continue
		}
		if s.lines > maxFuncLines || s.params > maxFuncParams {
			bad = append(bad, fmt.Sprintf("%s: %s is %d lines with %d parameters (limits %d and %d)",
				s.pos, s.name, s.lines, s.params, maxFuncLines, maxFuncParams))
		}
	}
	return bad
}

func TestFunctionShape(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var bad []string
	seen := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		bad = append(bad, shapeViolations(fset, f)...)
		for _, s := range funcShapes(fset, f) {
			seen[s.name] = true
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
	for name := range shapeExceptions {
		if !seen[name] {
			t.Errorf("shapeExceptions names %s, which no longer exists: remove it", name)
		}
	}
}

func TestShapeViolations(t *testing.T) {
	long := "func long() {\n" + strings.Repeat("\t_ = 1\n", maxFuncLines-2) + "}\n"
	longer := "func longer() {\n" + strings.Repeat("\t_ = 1\n", maxFuncLines-1) + "}\n"
	tests := []struct {
		name, src string
		want      int
	}{
		{"at the line limit", long, 0},
		{"past the line limit", longer, 1},
		{"five parameters", "func f(a, b int, c string, d []byte, e error) {}\n", 0},
		{"six parameters", "func f(a, b int, c string, d []byte, e error, g bool) {}\n", 1},
		{"unnamed parameters count", "func f(int, int, int, int, int, int) {}\n", 1},
		{"the receiver is not counted", "func (h *Handler) f(a, b, c, d, e int) {}\n", 0},
		{"an exception by name", strings.Replace(longer, "func longer()", "func (j *jsonChecker) step()", 1), 0},
		{"both limits, one line", "func f(a, b, c, d, e, g int) {\n" + strings.Repeat("\t_ = 1\n", maxFuncLines) + "}\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "x.go", "package proxy\n\n"+tt.src, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := shapeViolations(fset, f); len(got) != tt.want {
				t.Errorf("got %d violations %q, want %d", len(got), got, tt.want)
			}
		})
	}
}
