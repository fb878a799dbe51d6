package runtime

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"

	"github.com/sluicehq/sluice/internal/prompt"
	"github.com/sluicehq/sluice/internal/store"
)

// DefaultPromptLabel is the label a prompt is served under when the
// request names none.
const DefaultPromptLabel = "production"

// Prompts are the stored prompts compiled: every version checked and ready
// to render, and every label. It is immutable.
type Prompts struct {
	byName map[string]*Prompt
}

// Prompt is one compiled prompt.
type Prompt struct {
	ID, Name      string
	OrgID, TeamID string
	Latest        int
	Versions      map[int]*prompt.Compiled
	Labels        map[string]store.PromptLabel
}

// ErrNoPrompt is a prompt, label or version that does not exist.
var ErrNoPrompt = errors.New("no such prompt")

// compilePrompts compiles the stored prompts. A stored version that no
// longer compiles (it was checked when stored) is left out, with its
// labels falling back to nothing, rather than failing the whole snapshot.
func compilePrompts(stored []store.StoredPrompt) *Prompts {
	ps := &Prompts{byName: make(map[string]*Prompt, len(stored))}
	for _, sp := range stored {
		p := &Prompt{ID: sp.ID, Name: sp.Name, OrgID: sp.OrgID, TeamID: sp.TeamID, Latest: sp.Latest,
			Versions: make(map[int]*prompt.Compiled, len(sp.Versions)), Labels: make(map[string]store.PromptLabel, len(sp.Labels))}
		for _, v := range sp.Versions {
			if c, err := prompt.Compile(v); err == nil {
				p.Versions[v.Number] = c
			}
		}
		for _, l := range sp.Labels {
			p.Labels[l.Label] = l
		}
		ps.byName[sp.Name] = p
	}
	return ps
}

// Get returns the prompt named name, or nil.
func (ps *Prompts) Get(name string) *Prompt {
	if ps == nil {
		return nil
	}
	return ps.byName[name]
}

// Len is the number of prompts.
func (ps *Prompts) Len() int {
	if ps == nil {
		return 0
	}
	return len(ps.byName)
}

// Resolve picks the version that serves ref: a version number, a label,
// or "" for the production label. A label split between two versions
// sends SplitWeight percent of its traffic to the split version, sticky
// per key (keyID) or, when the label says so and user is not empty, per
// user: the same subject always gets the same version while the split
// stays. It returns the compiled version and the label used ("" when ref
// is a number); a missing label or version is ErrNoPrompt.
func (p *Prompt) Resolve(ref, keyID, user string) (*prompt.Compiled, string, error) {
	if ref == "" {
		ref = DefaultPromptLabel
	}
	if n, err := strconv.Atoi(ref); err == nil {
		c := p.Versions[n]
		if c == nil {
			return nil, "", fmt.Errorf("prompt %q has no version %s: %w", p.Name, ref, ErrNoPrompt)
		}
		return c, "", nil
	}
	l, ok := p.Labels[ref]
	if !ok {
		return nil, "", fmt.Errorf("prompt %q has no label %q: %w", p.Name, ref, ErrNoPrompt)
	}
	n := l.Version
	if l.SplitVersion != 0 && l.SplitWeight > 0 {
		subject := keyID
		if l.Sticky == "user" && user != "" {
			subject = user
		}
		if splitPoint(p.Name+"\x00"+ref+"\x00"+subject, subject == "") < l.SplitWeight {
			n = l.SplitVersion
		}
	}
	c := p.Versions[n]
	if c == nil {
		return nil, "", fmt.Errorf("prompt %q label %q points at version %d, which is not served: %w", p.Name, ref, n, ErrNoPrompt)
	}
	return c, ref, nil
}

// splitPoint maps a sticky value to 0-99, the same way every time (the
// canary routing policy's hash); random when there is no subject.
func splitPoint(sticky string, random bool) int {
	if random {
		return rand.IntN(100)
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(sticky))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return int(x % 100)
}

// NewPrompts compiles stored prompts outside a snapshot (for tests and
// tools); Compile does the same for Inputs.StoredPrompts.
func NewPrompts(stored []store.StoredPrompt) *Prompts { return compilePrompts(stored) }
