package runtime

import (
	"errors"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/internal/prompt"
	"github.com/sluicehq/sluice/internal/store"
)

func storedPrompt(labels ...store.PromptLabel) store.StoredPrompt {
	var vs []prompt.Version
	for n := 1; n <= 3; n++ {
		vs = append(vs, prompt.Version{Number: n, Model: "m", Messages: []prompt.Message{{Role: "user", Content: fmt.Sprintf("v%d {{text}}", n)}},
			Variables: []byte(`{"type":"object","properties":{"text":{"type":"string"}}}`)})
	}
	vs[2].Messages[0].Content = "{{#broken}}" // stored before a rule changed: not served
	return store.StoredPrompt{Prompt: store.Prompt{ID: "pmt_1", Name: "summarize", Labels: labels, Latest: 3}, Versions: vs}
}

func TestPromptResolve(t *testing.T) {
	ps := compilePrompts([]store.StoredPrompt{storedPrompt(
		store.PromptLabel{Label: "production", Version: 1},
		store.PromptLabel{Label: "staging", Version: 2},
		store.PromptLabel{Label: "broken", Version: 3},
	)})
	p := ps.Get("summarize")
	if p == nil || ps.Get("other") != nil || ps.Len() != 1 {
		t.Fatalf("Get: %+v", p)
	}
	tests := []struct {
		ref       string
		version   int
		label     string
		wantError bool
	}{
		{"", 1, "production", false},
		{"production", 1, "production", false},
		{"staging", 2, "staging", false},
		{"2", 2, "", false},
		{"1", 1, "", false},
		{"3", 0, "", true},      // does not compile
		{"broken", 0, "", true}, // points at it
		{"9", 0, "", true},
		{"canary", 0, "", true},
	}
	for _, tt := range tests {
		c, label, err := p.Resolve(tt.ref, "key_1", "")
		if tt.wantError {
			if !errors.Is(err, ErrNoPrompt) {
				t.Errorf("Resolve(%q) = %v, want ErrNoPrompt", tt.ref, err)
			}
			continue
		}
		if err != nil || c.Version().Number != tt.version || label != tt.label {
			t.Errorf("Resolve(%q) = %v %q %v, want version %d label %q", tt.ref, c, label, err, tt.version, tt.label)
		}
	}
}

// A split sends about its weight of the subjects to the split version,
// each subject always to the same one, by key or by user as it says.
func TestPromptSplit(t *testing.T) {
	for _, sticky := range []string{"key", "user"} {
		p := compilePrompts([]store.StoredPrompt{storedPrompt(
			store.PromptLabel{Label: "production", Version: 1, SplitVersion: 2, SplitWeight: 20, Sticky: sticky},
		)}).Get("summarize")
		split := 0
		for i := range 2000 {
			key, user := fmt.Sprintf("key_%d", i), fmt.Sprintf("user_%d", i)
			if sticky == "user" {
				key = "key_shared" // one key, many users: the user decides
			}
			c, label, err := p.Resolve("", key, user)
			if err != nil || label != "production" {
				t.Fatal(label, err)
			}
			for range 3 {
				again, _, _ := p.Resolve("", key, user)
				if again != c {
					t.Fatalf("%s split: subject %d moved between versions", sticky, i)
				}
			}
			if c.Version().Number == 2 {
				split++
			}
		}
		if split < 300 || split > 500 {
			t.Errorf("%s split: %d of 2000 got the 20%% version, want about 400", sticky, split)
		}
	}
	// A weight of 0 sends nobody; 100 sends everybody.
	for _, w := range []int{0, 100} {
		p := compilePrompts([]store.StoredPrompt{storedPrompt(
			store.PromptLabel{Label: "production", Version: 1, SplitVersion: 2, SplitWeight: w})}).Get("summarize")
		for i := range 200 {
			c, _, _ := p.Resolve("", fmt.Sprint(i), "")
			if want := map[int]int{0: 1, 100: 2}[w]; c.Version().Number != want {
				t.Fatalf("weight %d: version %d", w, c.Version().Number)
			}
		}
	}
}
