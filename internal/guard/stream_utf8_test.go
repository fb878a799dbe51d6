package guard

import "testing"

// TestStreamSplitInsideRune: a match whose runes are multi-byte is found
// when the stream's pieces end inside those runes (1-byte deltas), for
// deny words with accented letters, right-to-left text and zero-width
// characters.
func TestStreamSplitInsideRune(t *testing.T) {
	cases := []struct {
		spec Spec
		text string
	}{
		{Spec{Name: "deny", Type: "words", Words: []string{"grüne karte"}, Action: Block}, "bitte die grüne karte zeigen"},
		{Spec{Name: "deny", Type: "words", Words: []string{"geheimnis"}, Action: Block}, "ein großes geheimnis"},
		{Spec{Name: "deny", Type: "words", Words: []string{"שלום עולם"}, Action: Block}, "text שלום עולם end"},
		{Spec{Name: "re", Type: "regex", Patterns: []string{`café\s+noir`}, Action: Block}, "un café  noir"},
		{Spec{Name: "inj", Type: "injection", Action: Block}, "zero\u200b\u200bwidth"},
	}
	for _, tc := range cases {
		s := mustSet(t, Input, tc.spec)
		if s.Apply(tc.text, NewMasker()).Blocked == nil {
			t.Fatalf("%q: whole text not blocked", tc.text)
		}
		st := s.Stream(NewMasker())
		out := ""
		for i := range len(tc.text) {
			out += st.Write(tc.text[i : i+1])
		}
		out += st.Flush()
		if st.Blocked() == nil {
			t.Errorf("%q: 1-byte stream not blocked (emitted %q)", tc.text, out)
		}
	}
}
