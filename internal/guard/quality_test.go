package guard

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"
)

// TestInjectionQuality measures the injection heuristics on a labelled set
// written in the forms that public prompt-injection collections show
// (instruction overrides, role-marker smuggling, invisible characters,
// base64 payloads, persona jailbreaks) against everyday prompts, some of
// which use the same words innocently. The figures go to bench/RESULTS.md.
func TestInjectionQuality(t *testing.T) {
	f, err := os.Open("testdata/injection.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := mustSet(t, Input, Spec{Name: "inj", Type: "injection", Action: Block})
	var tp, fn, fp, tn int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var row struct{ Label, Text string }
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		hit := s.Apply(row.Text, NewMasker()).Blocked != nil
		switch {
		case row.Label == "injection" && hit:
			tp++
		case row.Label == "injection":
			fn++
			t.Logf("missed: %q", row.Text)
		case hit:
			fp++
			t.Logf("false positive: %q", row.Text)
		default:
			tn++
		}
	}
	recall := float64(tp) / float64(tp+fn)
	fpr := float64(fp) / float64(fp+tn)
	t.Logf("injection heuristics: recall %.2f (%d/%d), false positives %.2f (%d/%d)", recall, tp, tp+fn, fpr, fp, fp+tn)
	if recall < 0.8 || fpr > 0.05 {
		t.Errorf("recall %.2f (want >= 0.80), false-positive rate %.2f (want <= 0.05)", recall, fpr)
	}
}
