package prompt

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// A Case is one line of a test set: the variables to render a prompt with
// and the assertions its output must satisfy.
type Case struct {
	Name      string          `json:"name"`
	Variables json.RawMessage `json:"variables"`
	Assert    []Assertion     `json:"assert"`
}

// An Assertion is one check on a case's outcome. Type is one of contains,
// not_contains, regex, json_schema, max_latency_ms, max_cost_usd and equals;
// Value is its argument: a string for contains, not_contains, regex (RE2
// syntax) and equals; a JSON Schema for json_schema; a non-negative number
// for max_latency_ms (milliseconds) and max_cost_usd (dollars).
type Assertion struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// Outcome is what one call of a prompt version produced.
type Outcome struct {
	Text         string
	Latency      time.Duration
	CostMicros   int64 // cost in millionths of a US dollar
	InputTokens  int64
	OutputTokens int64
}

// MaxCaseLineBytes bounds one line of a test set file.
const MaxCaseLineBytes = 1 << 20

// MaxCases bounds the cases of one test set.
const MaxCases = 10000

// ParseCases reads a test set: JSON Lines, one case per line; blank lines
// are skipped. Unknown fields, unknown assertion types and assertion values
// of the wrong shape are errors naming the line. A case without a name is
// named after its line.
func ParseCases(r io.Reader) ([]Case, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var cases []Case
	for line := 1; ; line++ {
		text, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if line == 1 {
			text = bytes.TrimPrefix(text, []byte("\ufeff"))
		}
		if t := bytes.TrimSpace(text); len(t) > 0 {
			c, perr := parseCase(t)
			if perr != nil {
				return nil, fmt.Errorf("line %d: %w", line, perr)
			}
			if c.Name == "" {
				c.Name = fmt.Sprintf("line %d", line)
			}
			if len(cases) == MaxCases {
				return nil, fmt.Errorf("line %d: more than %d cases", line, MaxCases)
			}
			cases = append(cases, c)
		}
		if errors.Is(err, io.EOF) {
			return cases, nil
		}
	}
}

// readLine reads one line without its newline, refusing lines longer than
// MaxCaseLineBytes without reading them whole.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > MaxCaseLineBytes+1 {
			return nil, fmt.Errorf("line is longer than %d bytes", MaxCaseLineBytes)
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(line, []byte("\n")), err
	}
}

func parseCase(b []byte) (Case, error) {
	var c Case
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Case{}, fmt.Errorf("not a valid case: %w", err)
	}
	if dec.More() {
		return Case{}, errors.New("more than one JSON value on the line")
	}
	if len(c.Variables) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(c.Variables, &obj); err != nil || obj == nil {
			return Case{}, errors.New("variables: must be a JSON object")
		}
	}
	for i, a := range c.Assert {
		if err := validateAssertion(a); err != nil {
			return Case{}, fmt.Errorf("assert[%d]: %w", i, err)
		}
	}
	return c, nil
}

func validateAssertion(a Assertion) error {
	switch a.Type {
	case "contains", "not_contains", "equals":
		_, err := stringValue(a)
		return err
	case "regex":
		s, err := stringValue(a)
		if err != nil {
			return err
		}
		if _, err := regexp.Compile(s); err != nil {
			return fmt.Errorf("regex: %w", err)
		}
	case "json_schema":
		if _, err := compileSchema(a.Value, false); err != nil {
			return fmt.Errorf("json_schema: %w", err)
		}
	case "max_latency_ms", "max_cost_usd":
		_, err := limitValue(a)
		return err
	default:
		return fmt.Errorf("unknown assertion type %q", a.Type)
	}
	return nil
}

func stringValue(a Assertion) (string, error) {
	var s string
	if err := json.Unmarshal(a.Value, &s); err != nil {
		return "", fmt.Errorf("%s: value must be a string", a.Type)
	}
	return s, nil
}

// limitValue reads a non-negative decimal exactly, so that 0.1 dollars is
// 100000 micros and not a float's neighbour.
func limitValue(a Assertion) (*big.Rat, error) {
	var n json.Number
	if v := bytes.TrimSpace(a.Value); len(v) == 0 || v[0] == '"' || json.Unmarshal(v, &n) != nil {
		return nil, fmt.Errorf("%s: value must be a number", a.Type)
	}
	if len(n) > 64 {
		return nil, fmt.Errorf("%s: value is too long", a.Type)
	}
	r, ok := new(big.Rat).SetString(string(n))
	if !ok || r.Sign() < 0 {
		return nil, fmt.Errorf("%s: value must be a non-negative number", a.Type)
	}
	return r, nil
}

// Check evaluates one assertion on an outcome. detail says why it failed,
// or what was measured when it passed. An assertion that is not valid fails.
func Check(a Assertion, out Outcome) (pass bool, detail string) {
	if err := validateAssertion(a); err != nil {
		return false, err.Error()
	}
	switch a.Type {
	case "contains", "not_contains":
		s, _ := stringValue(a)
		has := strings.Contains(out.Text, s)
		if a.Type == "contains" {
			if has {
				return true, fmt.Sprintf("contains %q", clip(s))
			}
			return false, fmt.Sprintf("does not contain %q", clip(s))
		}
		if has {
			return false, fmt.Sprintf("contains %q", clip(s))
		}
		return true, fmt.Sprintf("does not contain %q", clip(s))
	case "equals":
		s, _ := stringValue(a)
		if out.Text == s {
			return true, "equal"
		}
		return false, fmt.Sprintf("got %q, want %q", clip(out.Text), clip(s))
	case "regex":
		s, _ := stringValue(a)
		re := regexp.MustCompile(s) // validated above
		if re.MatchString(out.Text) {
			return true, fmt.Sprintf("matches /%s/", clip(s))
		}
		return false, fmt.Sprintf("does not match /%s/", clip(s))
	case "json_schema":
		sch, _ := compileSchema(a.Value, false)
		doc, err := decodeJSON([]byte(out.Text))
		if err != nil {
			return false, "output is not valid JSON"
		}
		if err := sch.Validate(doc); err != nil {
			return false, "output does not match the schema: " + clip(variableErrors(err).Error())
		}
		return true, "output matches the schema"
	case "max_latency_ms":
		limit, _ := limitValue(a)
		got := new(big.Rat).SetFrac64(int64(out.Latency), int64(time.Millisecond))
		detail = fmt.Sprintf("latency %s ms, limit %s ms", got.FloatString(1), limit.FloatString(1))
		return got.Cmp(limit) <= 0, detail
	case "max_cost_usd":
		limit, _ := limitValue(a)
		got := new(big.Rat).SetFrac64(out.CostMicros, 1_000_000)
		detail = fmt.Sprintf("cost $%s, limit $%s", got.FloatString(6), limit.FloatString(6))
		return got.Cmp(limit) <= 0, detail
	}
	return false, "unknown assertion type"
}

// clip shortens text for a detail line.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// CheckResult is one assertion's verdict.
type CheckResult struct {
	Assertion Assertion
	Pass      bool
	Detail    string
}

// Result is one case run against one version.
type Result struct {
	Case    string
	Outcome Outcome
	// Err is set when the call itself failed; the case then fails.
	Err    error
	Checks []CheckResult
}

// Passed reports whether the call succeeded and every assertion passed.
func (r Result) Passed() bool {
	if r.Err != nil {
		return false
	}
	for _, c := range r.Checks {
		if !c.Pass {
			return false
		}
	}
	return true
}

// Evaluate checks every assertion of c on out.
func Evaluate(c Case, out Outcome) Result {
	r := Result{Case: c.Name, Outcome: out, Checks: make([]CheckResult, len(c.Assert))}
	for i, a := range c.Assert {
		pass, detail := Check(a, out)
		r.Checks[i] = CheckResult{Assertion: a, Pass: pass, Detail: detail}
	}
	return r
}

// Run is the results of one version over a test set.
type Run struct {
	Version string
	Results []Result
}

// Summary aggregates one run. Mean latency is over the calls that succeeded.
type Summary struct {
	Version      string
	Cases        int
	Passed       int
	MeanLatency  time.Duration
	InputTokens  int64
	OutputTokens int64
	CostMicros   int64
}

// PassRate is the fraction of cases that passed, 0 when there are none.
func (s Summary) PassRate() float64 {
	if s.Cases == 0 {
		return 0
	}
	return float64(s.Passed) / float64(s.Cases)
}

// Summarize aggregates a run.
func Summarize(run Run) Summary {
	s := Summary{Version: run.Version, Cases: len(run.Results)}
	var total time.Duration
	var calls int64
	for _, r := range run.Results {
		if r.Passed() {
			s.Passed++
		}
		if r.Err == nil {
			total += r.Outcome.Latency
			calls++
		}
		s.InputTokens += r.Outcome.InputTokens
		s.OutputTokens += r.Outcome.OutputTokens
		s.CostMicros += r.Outcome.CostMicros
	}
	if calls > 0 {
		s.MeanLatency = total / time.Duration(calls)
	}
	return s
}

// AllPassed reports whether every case of every run passed; a test command
// exits non-zero when it does not.
func AllPassed(runs []Run) bool {
	for _, run := range runs {
		for _, r := range run.Results {
			if !r.Passed() {
				return false
			}
		}
	}
	return true
}

// WriteTable writes one row per case with each run's verdict side by side
// (the first failing assertion's detail beside a FAIL), then one summary row
// per run: pass rate, mean latency, tokens and cost. Runs are matched by
// case position.
func WriteTable(w io.Writer, runs []Run) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "CASE")
	for _, run := range runs {
		fmt.Fprintf(tw, "\t%s", cell(run.Version))
	}
	fmt.Fprintln(tw)
	rows := 0
	for _, run := range runs {
		rows = max(rows, len(run.Results))
	}
	for i := 0; i < rows; i++ {
		name := ""
		for _, run := range runs {
			if i < len(run.Results) && name == "" {
				name = run.Results[i].Case
			}
		}
		fmt.Fprint(tw, cell(name))
		for _, run := range runs {
			fmt.Fprintf(tw, "\t%s", verdict(run, i))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "VERSION\tPASS\tRATE\tMEAN LATENCY\tTOKENS IN\tTOKENS OUT\tCOST USD")
	for _, run := range runs {
		s := Summarize(run)
		fmt.Fprintf(tw, "%s\t%d/%d\t%.1f%%\t%s\t%d\t%d\t%s\n", cell(s.Version), s.Passed, s.Cases,
			100*s.PassRate(), s.MeanLatency.Round(time.Millisecond), s.InputTokens, s.OutputTokens,
			new(big.Rat).SetFrac64(s.CostMicros, 1_000_000).FloatString(6))
	}
	return tw.Flush()
}

func verdict(run Run, i int) string {
	if i >= len(run.Results) {
		return "-"
	}
	r := run.Results[i]
	if r.Err != nil {
		return cell("ERROR " + r.Err.Error())
	}
	for _, c := range r.Checks {
		if !c.Pass {
			return cell("FAIL " + c.Assertion.Type + ": " + c.Detail)
		}
	}
	return "PASS"
}

// cell makes text safe for one table cell: control characters (tabs and
// newlines included) become spaces, and long text is clipped.
func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return clip(s)
}
