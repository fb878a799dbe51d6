package product

import (
	"errors"
	"testing"
)

// TestVersionTransitions checks every (state, event) pair of the version
// state machine: the allowed ones, written out here from the documented
// life cycle, and every other pair, which must be refused.
func TestVersionTransitions(t *testing.T) {
	allowed := map[VersionState]map[VersionEvent]VersionState{
		Draft:      {Publish: Published},
		Published:  {Deprecate: Deprecated, Retire: Retired},
		Deprecated: {Retire: Retired, Rollback: Published},
	}
	n := 0
	for _, from := range VersionStates {
		for _, ev := range VersionEvents {
			want, ok := allowed[from][ev]
			t.Run(string(from)+"/"+string(ev), func(t *testing.T) {
				got, err := NextVersionState(from, ev)
				switch {
				case ok && (err != nil || got != want):
					t.Fatalf("got %q, %v; want %q", got, err, want)
				case !ok && !errors.Is(err, ErrTransition):
					t.Fatalf("got %q, %v; want a refusal", got, err)
				case !ok && got != from:
					t.Fatalf("a refused transition moved the state to %q", got)
				}
			})
			n++
		}
	}
	if n != len(VersionStates)*len(VersionEvents) || n != 16 {
		t.Fatalf("%d pairs checked", n)
	}
}

// TestSubscriptionTransitions checks every (state, event) pair of the
// subscription state machine.
func TestSubscriptionTransitions(t *testing.T) {
	allowed := map[SubState]map[SubEvent]SubState{
		Pending:   {Approve: Active, Reject: Rejected, Cancel: Cancelled},
		Active:    {Suspend: Suspended, Cancel: Cancelled, Expire: Expired},
		Suspended: {Resume: Active, Cancel: Cancelled, Expire: Expired},
	}
	n := 0
	for _, from := range SubStates {
		for _, ev := range SubEvents {
			want, ok := allowed[from][ev]
			t.Run(string(from)+"/"+string(ev), func(t *testing.T) {
				got, err := NextSubState(from, ev)
				switch {
				case ok && (err != nil || got != want):
					t.Fatalf("got %q, %v; want %q", got, err, want)
				case !ok && !errors.Is(err, ErrTransition):
					t.Fatalf("got %q, %v; want a refusal", got, err)
				case !ok && got != from:
					t.Fatalf("a refused transition moved the state to %q", got)
				}
			})
			n++
		}
	}
	if n != 36 {
		t.Fatalf("%d pairs checked", n)
	}
	for _, tc := range []struct {
		s     SubState
		final bool
	}{{Pending, false}, {Active, false}, {Suspended, false}, {Cancelled, true}, {Expired, true}, {Rejected, true}} {
		if tc.s.Final() != tc.final {
			t.Errorf("%s.Final() = %v", tc.s, !tc.final)
		}
	}
}

func TestInitialState(t *testing.T) {
	for _, tc := range []struct {
		a    Approval
		want SubState
	}{{Auto, Active}, {Manual, Pending}, {"", Pending}} {
		if got := InitialState(tc.a); got != tc.want {
			t.Errorf("InitialState(%q) = %q, want %q", tc.a, got, tc.want)
		}
	}
}

func TestServed(t *testing.T) {
	for _, tc := range []struct {
		s    VersionState
		want bool
	}{{Draft, false}, {Published, true}, {Deprecated, true}, {Retired, false}} {
		if got := tc.s.Served(); got != tc.want {
			t.Errorf("%s.Served() = %v", tc.s, got)
		}
	}
}
