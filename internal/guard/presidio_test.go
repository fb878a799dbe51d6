package guard

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// presidioCase is one parametrized case of Presidio's recognizer tests
// (testdata/README.md): the text, and the spans a recognizer must find.
type presidioCase struct {
	Text  string   `json:"text"`
	Count int      `json:"count"`
	Spans [][2]int `json:"spans"`
}

func readPresidio(t *testing.T, name string) []presidioCase {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []presidioCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var c presidioCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// spans returns where the built-in detectors of entity match in text.
func spans(entity, text string) [][2]int {
	g := &Guard{spec: Spec{Name: entity, Action: Mask, On: []Stage{Input}}, detectors: builtin[entity]}
	var out [][2]int
	for _, m := range NewSet(Input, g).scan(text, 0) {
		out = append(out, [2]int{m.start, m.end})
	}
	return out
}

// TestPresidioVectors runs every case of Presidio's credit-card and IBAN
// recognizer tests: valid numbers are found at exactly Presidio's spans,
// numbers with a bad checksum, a wrong length or a stray character are not.
// Each case is also run as a stream of 1-byte deltas, which must mask the
// same spans.
func TestPresidioVectors(t *testing.T) {
	for _, tc := range []struct {
		file, entity string
		minValid     int
		minInvalid   int
	}{
		{"presidio_credit_card.jsonl", "credit_card", 14, 5},
		{"presidio_iban.jsonl", "iban", 150, 170},
	} {
		t.Run(tc.entity, func(t *testing.T) {
			var valid, invalid int
			for _, c := range readPresidio(t, tc.file) {
				want := c.Spans
				if c.Count == 0 {
					want = nil
					invalid++
				} else {
					valid++
				}
				if got := spans(tc.entity, c.Text); !slices.Equal(got, want) {
					t.Errorf("%s in %q: spans %v, want %v", tc.entity, c.Text, got, want)
					continue
				}
				s := piiSet(t, tc.entity)
				whole := s.Apply(c.Text, NewMasker()).Text
				st := s.Stream(NewMasker())
				var streamed string
				for i := range len(c.Text) {
					streamed += st.Write(c.Text[i : i+1])
				}
				streamed += st.Flush()
				if streamed != whole {
					t.Errorf("%s in %q: 1-byte stream %q, whole text %q", tc.entity, c.Text, streamed, whole)
				}
			}
			// The files are read whole: a truncated copy fails here.
			if valid < tc.minValid || invalid < tc.minInvalid {
				t.Errorf("%s: %d valid and %d invalid cases, want at least %d and %d", tc.file, valid, invalid, tc.minValid, tc.minInvalid)
			}
			t.Logf("%s: %d valid, %d invalid cases", tc.entity, valid, invalid)
		})
	}
}
