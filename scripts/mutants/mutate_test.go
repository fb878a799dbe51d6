package main

import (
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	tests := []struct {
		name string
		op   string // only mutants whose description starts with op
		src  string // the body of p.go after "package p\n"
		want []string
	}{
		{
			name: "every comparison flips to its neighbour",
			op:   opFlip,
			src:  "func f(a, b int) bool {\n\treturn a < b || a <= b || a > b || a >= b || a == b || a != b\n}\n",
			want: []string{
				"p.go:3: flip comparison: `a < b` -> `a <= b`",
				"p.go:3: flip comparison: `a <= b` -> `a < b`",
				"p.go:3: flip comparison: `a > b` -> `a >= b`",
				"p.go:3: flip comparison: `a >= b` -> `a > b`",
				"p.go:3: flip comparison: `a == b` -> `a != b`",
				"p.go:3: flip comparison: `a != b` -> `a == b`",
			},
		},
		{
			name: "if and for conditions are negated, == and != are left to flip",
			op:   opNegate,
			src: "func f(ok bool, a, b int) {\n\tif ok {\n\t}\n\tif !ok {\n\t}\n\tif a == b {\n\t}\n" +
				"\tfor a < b {\n\t\ta++\n\t}\n}\n",
			want: []string{
				"p.go:3: negate condition: `ok` -> `!(ok)`",
				"p.go:5: negate condition: `!ok` -> `ok`",
				"p.go:9: negate condition: `a < b` -> `!(a < b)`",
			},
		},
		{
			name: "the right term of + and - is dropped",
			op:   opDropTerm,
			src:  "func f(a, b, c int) int {\n\treturn a + b - c\n}\n",
			want: []string{
				"p.go:3: drop term: `a + b - c` -> `a + b`",
				"p.go:3: drop term: `a + b` -> `a`",
			},
		},
		{
			name: "each returned value becomes its type's zero, one at a time",
			op:   opZeroReturn,
			src: "type T struct{ n int }\n\nfunc f(t T, err error) (n int, s string, e error, p *T, xs []int, v T, ok bool) {\n" +
				"\treturn 1, \"x\", err, &t, []int{1}, t, true\n}\n\nfunc g() (int, error) {\n\treturn 0, nil\n}\n",
			want: []string{
				"p.go:5: zero return: `1` -> `0`",
				"p.go:5: zero return: `\"x\"` -> `\"\"`",
				"p.go:5: zero return: `err` -> `nil`",
				"p.go:5: zero return: `&t` -> `nil`",
				"p.go:5: zero return: `[]int{1}` -> `nil`",
				"p.go:5: zero return: `t` -> `*new(T)`",
				"p.go:5: zero return: `true` -> `false`",
			},
		},
		{
			name: "a function literal's returns use the literal's results",
			op:   opZeroReturn,
			src:  "func f() int {\n\tg := func() bool { return true }\n\t_ = g\n\treturn 2\n}\n",
			want: []string{
				"p.go:3: zero return: `true` -> `false`",
				"p.go:5: zero return: `2` -> `0`",
			},
		},
		{
			name: "functions without results return early; empty ones and ones with results do not",
			op:   opEarly,
			src: "func f() {\n\tprintln()\n\tg := func() {\n\t\tprintln()\n\t}\n\tg()\n}\n\nfunc h() {}\n\n" +
				"func k() int {\n\treturn 1\n}\n",
			want: []string{
				"p.go:2: return early: f",
				"p.go:4: return early: func literal",
			},
		},
		{
			name: "call statements are removed, but not unlocks, Done or panic",
			op:   opRemoveCall,
			src: "import \"sync\"\n\nfunc f(mu *sync.Mutex, wg *sync.WaitGroup) {\n\tmu.Lock()\n\tmu.Unlock()\n" +
				"\twg.Done()\n\tprintln(\"x\")\n\tpanic(\"y\")\n}\n",
			want: []string{
				"p.go:5: remove call: `mu.Lock()`",
				"p.go:8: remove call: `println(\"x\")`",
			},
		},
		{
			name: "&& and || swap",
			op:   opSwapLogic,
			src:  "func f(a, b, c bool) bool {\n\treturn a && b || c\n}\n",
			want: []string{
				"p.go:3: swap logical: `a && b || c` -> `a && b && c`",
				"p.go:3: swap logical: `a && b` -> `a || b`",
			},
		},
		{
			name: "integer literals gain one, array lengths and imports are left alone",
			op:   opIntConst,
			src:  "import \"fmt\"\n\nvar arr [4]int\n\nconst limit = 1_000\n\nfunc f() {\n\tfmt.Println(41, 0x10, 1.5, 'c', arr[2])\n}\n",
			want: []string{
				"p.go:6: int constant: `1_000` -> `1001`",
				"p.go:9: int constant: `41` -> `42`",
				"p.go:9: int constant: `0x10` -> `17`",
				"p.go:9: int constant: `2` -> `3`",
			},
		},
		{
			name: "the same change twice on a line gets a number",
			op:   opIntConst,
			src:  "func f(a, b []int) int {\n\treturn a[7] + b[7]\n}\n",
			want: []string{
				"p.go:3: int constant: `7` -> `8`",
				"p.go:3: int constant: `7` -> `8` (2)",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := []byte("package p\n" + tc.src)
			ms, err := Generate("p.go", src)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				if strings.HasPrefix(m.Desc, tc.op+":") {
					got = append(got, m.Key())
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("mutants:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.want, "\n     "))
			}
			for _, m := range ms {
				out := m.Apply(src)
				if string(out) == string(src) {
					t.Errorf("%s: leaves the source unchanged", m.Key())
				}
				if _, err := parser.ParseFile(token.NewFileSet(), "p.go", out, 0); err != nil {
					t.Errorf("%s: mutated source does not parse: %v\n%s", m.Key(), err, out)
				}
			}
		})
	}
}

func TestApply(t *testing.T) {
	src := []byte("package p\n\nfunc f(a, b int) bool { return a < b }\n")
	ms, err := Generate("p.go", src)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"p.go:3: flip comparison: `a < b` -> `a <= b`": "package p\n\nfunc f(a, b int) bool { return a <= b }\n",
		"p.go:3: zero return: `a < b` -> `false`":      "package p\n\nfunc f(a, b int) bool { return false }\n",
	}
	for _, m := range ms {
		if w, ok := want[m.Key()]; ok {
			if got := string(m.Apply(src)); got != w {
				t.Errorf("%s:\n got %q\nwant %q", m.Key(), got, w)
			}
			delete(want, m.Key())
		}
	}
	for k := range want {
		t.Errorf("no mutant %s", k)
	}
	if string(src) != "package p\n\nfunc f(a, b int) bool { return a < b }\n" {
		t.Errorf("Apply modified its input: %q", src)
	}
}

func TestGenerateRejectsBadSource(t *testing.T) {
	if _, err := Generate("p.go", []byte("package p\nfunc {")); err == nil {
		t.Error("want a parse error")
	}
}
