// Package guard is Sluice's guardrail engine: detectors for personal data,
// secrets, deny lists and prompt-injection markers, applied to text as a
// whole (a request's messages) or as a stream (a response's text deltas).
//
// Every detector is a bounded regular expression plus an optional validator
// (Luhn for cards, mod-97 for IBANs, address parsing for IPs). Because each
// detector knows the longest text it can match and the characters a match
// can contain, a stream holds back only the trailing run of characters that
// could still become a match, never more than the longest pattern, and the
// streamed result is identical to the result over the whole text whatever
// the chunk boundaries (down to one byte per chunk).
//
// A Set is compiled once from the configuration and is safe for concurrent
// use. A Masker holds one request's placeholders (<EMAIL_1>, ...) and is not.
package guard

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Action is what a guardrail does with a match.
type Action string

const (
	// Mask replaces each match with a typed placeholder such as <EMAIL_1>.
	Mask Action = "mask"
	// Block refuses the request (input) or ends the stream (output).
	Block Action = "block"
	// Log only records the verdict.
	Log Action = "log"
)

// Stage is where a guardrail runs.
type Stage string

const (
	Input  Stage = "input"
	Output Stage = "output"
)

// Spec declares one guardrail, as the configuration file does.
type Spec struct {
	Name string
	// Type is pii, regex, words, injection or max_size.
	Type string
	// Entities selects the pii detectors (all when empty).
	Entities []string
	// Patterns are the regex guardrail's expressions (RE2 syntax).
	Patterns []string
	// Words are the words guardrail's terms, matched case-insensitively as
	// whole words.
	Words []string
	// MaxBytes bounds the input for the max_size guardrail.
	MaxBytes int
	// MaxMatch caps the length of a match for patterns that are unbounded
	// (e.g. "sk-[A-Za-z0-9]{20,}"): a stream holds back at most this many
	// bytes for them. Default 256.
	MaxMatch int
	Action   Action
	On       []Stage
	// Reversible masking restores placeholders in the response (never for
	// secrets).
	Reversible bool
}

// Finding is one guardrail's verdict on a text: never the matched text.
type Finding struct {
	Guardrail string
	Action    Action
	// Entity is the kind of the first match (email, credit_card, pattern,
	// word, injection, max_size).
	Entity string
	Count  int
}

// Guard is one compiled guardrail.
type Guard struct {
	spec      Spec
	detectors []*detector
}

// Name returns the guardrail's name.
func (g *Guard) Name() string { return g.spec.Name }

// Action returns what the guardrail does with a match.
func (g *Guard) Action() Action { return g.spec.Action }

// Runs reports whether the guardrail runs at stage s.
func (g *Guard) Runs(s Stage) bool { return slices.Contains(g.spec.On, s) }

// Compile checks and compiles one guardrail.
func Compile(s Spec) (*Guard, error) {
	if s.Name == "" {
		return nil, errors.New("guardrail: name is required")
	}
	switch s.Action {
	case Mask, Block, Log:
	case "":
		return nil, fmt.Errorf("guardrail %s: action is required (mask, block or log)", s.Name)
	default:
		return nil, fmt.Errorf("guardrail %s: unknown action %q (mask, block or log)", s.Name, s.Action)
	}
	if len(s.On) == 0 {
		s.On = []Stage{Input}
	}
	for _, st := range s.On {
		if st != Input && st != Output {
			return nil, fmt.Errorf("guardrail %s: unknown stage %q (input or output)", s.Name, st)
		}
	}
	if s.MaxMatch <= 0 {
		s.MaxMatch = 256
	}
	g := &Guard{spec: s}
	switch s.Type {
	case "pii":
		names := s.Entities
		if len(names) == 0 {
			names = Entities()
		}
		for _, n := range names {
			ds, ok := builtin[n]
			if !ok {
				return nil, fmt.Errorf("guardrail %s: unknown entity %q (one of %s)", s.Name, n, strings.Join(Entities(), ", "))
			}
			g.detectors = append(g.detectors, ds...)
		}
	case "regex":
		if len(s.Patterns) == 0 {
			return nil, fmt.Errorf("guardrail %s: patterns are required", s.Name)
		}
		for i, p := range s.Patterns {
			d, err := boundedDetector("pattern", p, nil, s.MaxMatch)
			if err != nil {
				return nil, fmt.Errorf("guardrail %s: patterns[%d]: %v", s.Name, i, err)
			}
			if d.re.MatchString("") {
				return nil, fmt.Errorf("guardrail %s: patterns[%d] matches the empty string", s.Name, i)
			}
			g.detectors = append(g.detectors, d)
		}
	case "words":
		if len(s.Words) == 0 {
			return nil, fmt.Errorf("guardrail %s: words are required", s.Name)
		}
		quoted := make([]string, 0, len(s.Words))
		for _, w := range s.Words {
			if strings.TrimSpace(w) == "" {
				return nil, fmt.Errorf("guardrail %s: an empty word", s.Name)
			}
			quoted = append(quoted, regexp.QuoteMeta(w))
		}
		d, err := boundedDetector("word", `(?i)(?:`+strings.Join(quoted, "|")+`)`, wordBounded, s.MaxMatch)
		if err != nil {
			return nil, fmt.Errorf("guardrail %s: words: %v", s.Name, err)
		}
		lower := make([]string, len(s.Words))
		for i, w := range s.Words {
			lower[i] = asciiLower(w)
		}
		d.anchor = &anchor{words: lower}
		g.detectors = append(g.detectors, d)
	case "injection":
		g.detectors = injectionDetectors()
	case "max_size":
		if s.MaxBytes <= 0 {
			return nil, fmt.Errorf("guardrail %s: max_bytes must be positive", s.Name)
		}
		if s.Action == Mask {
			return nil, fmt.Errorf("guardrail %s: max_size cannot mask (block or log)", s.Name)
		}
	case "":
		return nil, fmt.Errorf("guardrail %s: type is required (pii, regex, words, injection, max_size)", s.Name)
	default:
		return nil, fmt.Errorf("guardrail %s: unknown type %q (pii, regex, words, injection, max_size)", s.Name, s.Type)
	}
	return g, nil
}

// Set is the guardrails that apply to one request, in order.
type Set struct {
	guards []*Guard
	stage  Stage
	// hold is the most a stream must hold back: the longest match of any
	// masking or blocking detector.
	hold int
	// words: some detector asserts word boundaries.
	words bool
}

// NewSet returns the guardrails of gs that run at stage.
func NewSet(stage Stage, gs ...*Guard) *Set {
	s := &Set{stage: stage}
	for _, g := range gs {
		if g == nil || !g.Runs(stage) {
			continue
		}
		s.guards = append(s.guards, g)
		for _, d := range g.detectors {
			s.hold = max(s.hold, d.maxLen)
			if d.wordAssert {
				s.words = true
				s.hold = max(s.hold, d.maxLen+wordHold)
			}
		}
	}
	return s
}

// Empty reports whether no guardrail runs.
func (s *Set) Empty() bool { return s == nil || len(s.guards) == 0 }

// HoldBack is the most bytes a stream through this set holds back.
func (s *Set) HoldBack() int { return s.hold }

// Result is a verdict on a text.
type Result struct {
	// Text is the text with masked matches replaced.
	Text string
	// Blocked is the first blocking guardrail that matched, or nil.
	Blocked *Finding
	// Findings has one entry per guardrail that matched.
	Findings []Finding
}

// Apply runs the set over a whole text. m numbers the placeholders; it may be
// shared by every text of one request so that a value keeps its placeholder.
func (s *Set) Apply(text string, m *Masker) Result {
	if s.Empty() {
		return Result{Text: text}
	}
	var res Result
	for _, g := range s.guards {
		if g.spec.Type == "max_size" && len(text) > g.spec.MaxBytes {
			res.add(g, "max_size", 1)
		}
	}
	matches := s.scan(text, 0)
	var b strings.Builder
	res.Text = s.render(&b, text, 0, len(text), matches, m, &res)
	return res
}

// Merge folds another verdict (of another text of the same request) into r.
func (r *Result) Merge(o Result) {
	for _, f := range o.Findings {
		r.addFinding(f)
	}
	if r.Blocked == nil && o.Blocked != nil {
		b := *o.Blocked
		r.Blocked = &b
	}
}

func (r *Result) add(g *Guard, entity string, n int) {
	f := Finding{Guardrail: g.spec.Name, Action: g.spec.Action, Entity: entity, Count: n}
	r.addFinding(f)
	if g.spec.Action == Block && r.Blocked == nil {
		r.Blocked = &f
	}
}

func (r *Result) addFinding(f Finding) {
	for i := range r.Findings {
		if r.Findings[i].Guardrail == f.Guardrail {
			r.Findings[i].Count += f.Count
			return
		}
	}
	r.Findings = append(r.Findings, f)
}

// match is one detector's hit at text[start:end].
type match struct {
	start, end int
	guard      *Guard
	det        *detector
}

// scan finds every match starting at or after from in text, where
// text[:from] is context already decided (only its last character is looked
// at, for boundaries). Matches do not overlap: at one position a blocking
// guardrail wins over a masking one, then the longer match, then the earlier
// guardrail.
func (s *Set) scan(text string, from int) []match {
	var all []match
	src := &source{text: text}
	for _, g := range s.guards {
		for _, d := range g.detectors {
			for _, loc := range d.findIn(src, from) {
				all = append(all, match{start: loc[0], end: loc[1], guard: g, det: d})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b match) int {
		if a.start != b.start {
			return a.start - b.start
		}
		if pa, pb := priority(a.guard.spec.Action), priority(b.guard.spec.Action); pa != pb {
			return pb - pa
		}
		return (b.end - b.start) - (a.end - a.start)
	})
	out := all[:0]
	end := -1
	for _, m := range all {
		if m.start < end {
			continue
		}
		out = append(out, m)
		end = m.end
	}
	return out
}

func priority(a Action) int {
	switch a {
	case Block:
		return 3
	case Mask:
		return 2
	}
	return 1
}

// render writes text[from:to] with the matches inside it applied, and
// records the findings.
func (s *Set) render(b *strings.Builder, text string, from, to int, matches []match, m *Masker, res *Result) string {
	b.Reset()
	pos := from
	for _, mt := range matches {
		if mt.start < from || mt.end > to {
			continue
		}
		res.add(mt.guard, mt.det.entity, 1)
		if mt.guard.spec.Action != Mask {
			continue
		}
		b.WriteString(text[pos:mt.start])
		b.WriteString(m.placeholder(mt.det.entity, text[mt.start:mt.end], mt.guard.spec.Reversible && !mt.det.secret))
		pos = mt.end
	}
	b.WriteString(text[pos:to])
	return b.String()
}

// Masker numbers one request's placeholders: the same value gets the same
// placeholder in every message and in the response, and reversible ones can
// be restored. Not safe for concurrent use.
type Masker struct {
	byValue map[string]string // entity + "\x00" + value -> placeholder
	count   map[string]int    // entity -> last number used
	restore map[string]string // placeholder -> value (reversible only)
}

// NewMasker returns an empty placeholder table.
func NewMasker() *Masker { return &Masker{} }

func (m *Masker) placeholder(entity, value string, reversible bool) string {
	if m.byValue == nil {
		m.byValue, m.count = map[string]string{}, map[string]int{}
	}
	k := entity + "\x00" + value
	if p, ok := m.byValue[k]; ok {
		return p
	}
	m.count[entity]++
	p := fmt.Sprintf("<%s_%d>", strings.ToUpper(entity), m.count[entity])
	m.byValue[k] = p
	if reversible {
		if m.restore == nil {
			m.restore = map[string]string{}
		}
		m.restore[p] = value
	}
	return p
}

// Reversible reports whether any placeholder can be restored.
func (m *Masker) Reversible() bool { return m != nil && len(m.restore) > 0 }

// Restore replaces the reversible placeholders in text with their values.
func (m *Masker) Restore(text string) string {
	if !m.Reversible() || !strings.Contains(text, "<") {
		return text
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(text, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(text[i:], '>')
		if j < 0 {
			break
		}
		b.WriteString(text[:i])
		if v, ok := m.restore[text[i:i+j+1]]; ok {
			b.WriteString(v)
		} else {
			b.WriteString(text[i : i+j+1])
		}
		text = text[i+j+1:]
	}
	b.WriteString(text)
	return b.String()
}
