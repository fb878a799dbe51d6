package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"sort"
	"strconv"
	"strings"
)

// Operator names, as they appear at the start of a mutant's description.
const (
	opFlip       = "flip comparison"
	opNegate     = "negate condition"
	opDropTerm   = "drop term"
	opZeroReturn = "zero return"
	opEarly      = "return early"
	opRemoveCall = "remove call"
	opSwapLogic  = "swap logical"
	opIntConst   = "int constant"
)

// A Mutant is one small change to one source file: the bytes from Start to
// End are replaced by Repl. File is the path the mutant is reported under
// (relative to the module root); Line is the 1-based line of the change.
type Mutant struct {
	File  string
	Line  int
	Desc  string
	Start int
	End   int
	Repl  string
}

// Key is the mutant's identity in reports and in the equivalence list:
// "file:line: description".
func (m Mutant) Key() string { return fmt.Sprintf("%s:%d: %s", m.File, m.Line, m.Desc) }

// Apply returns src with the mutant's change made; src is not modified.
func (m Mutant) Apply(src []byte) []byte {
	out := make([]byte, 0, len(src)-(m.End-m.Start)+len(m.Repl))
	out = append(out, src[:m.Start]...)
	out = append(out, m.Repl...)
	return append(out, src[m.End:]...)
}

// noRemove lists methods whose removal as a statement only deadlocks the
// tests: the mutant would cost a full timeout and say nothing new.
var noRemove = map[string]bool{"Unlock": true, "RUnlock": true, "Done": true}

// Generate parses one Go source file and returns its mutants in source
// order. name is the path used in reports. Mutants that produce the same
// file as an earlier one are dropped; two mutants with the same description
// on the same line get " (2)", " (3)"... appended so that keys stay unique.
func Generate(name string, src []byte) ([]Mutant, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	g := &generator{name: name, src: src, fset: fset, tf: fset.File(f.Pos())}
	g.walk(f)

	sort.SliceStable(g.out, func(i, j int) bool { return g.out[i].Start < g.out[j].Start })
	seenSrc := map[string]bool{}
	seenKey := map[string]int{}
	var out []Mutant
	for _, m := range g.out {
		s := string(m.Apply(src))
		if seenSrc[s] {
			continue
		}
		seenSrc[s] = true
		k := m.Key()
		seenKey[k]++
		if n := seenKey[k]; n > 1 {
			m.Desc = fmt.Sprintf("%s (%d)", m.Desc, n)
		}
		out = append(out, m)
	}
	return out, nil
}

type generator struct {
	name  string
	src   []byte
	fset  *token.FileSet
	tf    *token.File
	stack []ast.Node
	out   []Mutant
}

func (g *generator) walk(f *ast.File) {
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil {
			g.stack = g.stack[:len(g.stack)-1]
			return true
		}
		switch n := n.(type) {
		case *ast.GenDecl:
			if n.Tok == token.IMPORT {
				return false
			}
		case *ast.ArrayType:
			// An array length is part of a type: a changed length rarely
			// compiles and never says anything about the tests.
			if n.Len != nil {
				return false
			}
		case *ast.BinaryExpr:
			g.binary(n)
		case *ast.IfStmt:
			g.negate(n.Cond)
		case *ast.ForStmt:
			if n.Cond != nil {
				g.negate(n.Cond)
			}
		case *ast.ReturnStmt:
			g.zeroReturn(n)
		case *ast.FuncDecl:
			if n.Body != nil {
				g.early(n.Type, n.Body, n.Name.Name)
			}
		case *ast.FuncLit:
			g.early(n.Type, n.Body, "func literal")
		case *ast.ExprStmt:
			g.removeCall(n)
		case *ast.BasicLit:
			g.intConst(n)
		}
		g.stack = append(g.stack, n)
		return true
	})
}

func (g *generator) off(p token.Pos) int  { return g.tf.Offset(p) }
func (g *generator) line(p token.Pos) int { return g.tf.Line(p) }
func (g *generator) text(n ast.Node) string {
	return string(g.src[g.off(n.Pos()):g.off(n.End())])
}

// add records a mutant replacing node n's text with repl.
func (g *generator) add(op string, n ast.Node, repl string) {
	desc := fmt.Sprintf("%s: %s -> %s", op, quote(g.text(n)), quote(repl))
	g.addRange(desc, n.Pos(), n.End(), repl)
}

func (g *generator) addRange(desc string, pos, end token.Pos, repl string) {
	g.out = append(g.out, Mutant{
		File:  g.name,
		Line:  g.line(pos),
		Desc:  desc,
		Start: g.off(pos),
		End:   g.off(end),
		Repl:  repl,
	})
}

var flips = map[token.Token]token.Token{
	token.LSS: token.LEQ, token.LEQ: token.LSS,
	token.GTR: token.GEQ, token.GEQ: token.GTR,
	token.EQL: token.NEQ, token.NEQ: token.EQL,
}

func (g *generator) binary(b *ast.BinaryExpr) {
	swap := func(op string, to token.Token) {
		x, y := g.text(b.X), g.text(b.Y)
		mid := string(g.src[g.off(b.X.End()):g.off(b.Y.Pos())])
		repl := x + strings.Replace(mid, b.Op.String(), to.String(), 1) + y
		g.add(op, b, repl)
	}
	switch b.Op {
	case token.LSS, token.LEQ, token.GTR, token.GEQ, token.EQL, token.NEQ:
		swap(opFlip, flips[b.Op])
	case token.LAND:
		swap(opSwapLogic, token.LOR)
	case token.LOR:
		swap(opSwapLogic, token.LAND)
	case token.ADD, token.SUB:
		g.add(opDropTerm, b, g.text(b.X))
	}
}

// negate wraps a condition in !(...), or unwraps one that is already
// negated. Conditions that are == or != comparisons are left to the flip
// operator, which makes the same change.
func (g *generator) negate(cond ast.Expr) {
	if b, ok := ast.Unparen(cond).(*ast.BinaryExpr); ok && (b.Op == token.EQL || b.Op == token.NEQ) {
		return
	}
	if u, ok := cond.(*ast.UnaryExpr); ok && u.Op == token.NOT {
		g.add(opNegate, cond, g.text(u.X))
		return
	}
	g.add(opNegate, cond, "!("+g.text(cond)+")")
}

// enclosingFunc returns the type of the innermost function on the stack.
func (g *generator) enclosingFunc() *ast.FuncType {
	for i := len(g.stack) - 1; i >= 0; i-- {
		switch n := g.stack[i].(type) {
		case *ast.FuncDecl:
			return n.Type
		case *ast.FuncLit:
			return n.Type
		}
	}
	return nil
}

// resultTypes lists one type expression per result of ft.
func resultTypes(ft *ast.FuncType) []ast.Expr {
	if ft == nil || ft.Results == nil {
		return nil
	}
	var ts []ast.Expr
	for _, f := range ft.Results.List {
		n := len(f.Names)
		if n == 0 {
			n = 1
		}
		for range n {
			ts = append(ts, f.Type)
		}
	}
	return ts
}

// zeroReturn replaces each returned value, one at a time, with the zero
// value of its declared type.
func (g *generator) zeroReturn(r *ast.ReturnStmt) {
	types := resultTypes(g.enclosingFunc())
	if len(r.Results) == 0 || len(r.Results) != len(types) {
		return
	}
	for i, res := range r.Results {
		zero := g.zeroOf(types[i])
		if t := g.text(res); t == zero || t == "nil" {
			continue
		}
		g.add(opZeroReturn, res, zero)
	}
}

// zeroOf spells the zero value of the type written as t.
func (g *generator) zeroOf(t ast.Expr) string {
	switch t := t.(type) {
	case *ast.Ident:
		switch t.Name {
		case "bool":
			return "false"
		case "string":
			return `""`
		case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
			"uintptr", "byte", "rune", "float32", "float64", "complex64", "complex128":
			return "0"
		case "error", "any":
			return "nil"
		}
	case *ast.StarExpr, *ast.MapType, *ast.ChanType, *ast.FuncType, *ast.InterfaceType:
		return "nil"
	case *ast.ArrayType:
		if t.Len == nil {
			return "nil"
		}
	}
	return "*new(" + g.text(t) + ")"
}

// early makes a function without results return before its first
// statement. Functions with results are covered by zeroReturn.
func (g *generator) early(ft *ast.FuncType, body *ast.BlockStmt, name string) {
	if len(resultTypes(ft)) > 0 || len(body.List) == 0 {
		return
	}
	if _, ok := body.List[0].(*ast.ReturnStmt); ok {
		return
	}
	p := body.Lbrace + 1
	g.addRange(fmt.Sprintf("%s: %s", opEarly, name), p, p, "return;")
}

// removeCall disables a call statement. It wraps the call in `if false {}`
// rather than deleting it, so that variables and imports it uses stay used
// and the mutant compiles.
func (g *generator) removeCall(s *ast.ExprStmt) {
	call, ok := s.X.(*ast.CallExpr)
	if !ok {
		return
	}
	if sel, ok := call.Fun.(*ast.SelectorExpr); ok && noRemove[sel.Sel.Name] {
		return
	}
	if id, ok := call.Fun.(*ast.Ident); ok && id.Name == "panic" {
		return
	}
	desc := fmt.Sprintf("%s: %s", opRemoveCall, quote(g.text(s)))
	g.addRange(desc, s.Pos(), s.End(), "if false { "+g.text(s)+" }")
}

// intConst adds one to an integer literal.
func (g *generator) intConst(l *ast.BasicLit) {
	if l.Kind != token.INT {
		return
	}
	v, err := strconv.ParseUint(strings.ReplaceAll(l.Value, "_", ""), 0, 64)
	if err != nil || v == 1<<64-1 {
		return
	}
	g.add(opIntConst, l, strconv.FormatUint(v+1, 10))
}

// quote makes code fit a one-line description: whitespace collapsed, long
// text truncated, in backquotes (or Go quotes if it holds a backquote).
func quote(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 60
	if r := []rune(s); len(r) > max {
		s = string(r[:max-3]) + "..."
	}
	if strings.Contains(s, "`") {
		return strconv.Quote(s)
	}
	return "`" + s + "`"
}
