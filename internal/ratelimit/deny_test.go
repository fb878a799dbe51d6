package ratelimit

import (
	"context"
	"testing"
)

// denyStore is a scriptedStore that refuses the admission at position deny
// (-1: none) with the limit named.
type denyStore struct {
	scriptedStore
	deny  int
	limit string
}

func (s *denyStore) AdmitAll(ctx context.Context, as []Admission) (int, []Verdict, error) {
	_, vs, err := s.scriptedStore.AdmitAll(ctx, as)
	if s.deny >= 0 {
		vs[s.deny].Denied = s.limit
	}
	return s.deny, vs, err
}

// TestSharedRefusal: when the store refuses one subject, AdmitAll returns
// no tickets, the refusing subject's position among all the subjects
// (those without limits count), and its Denial in its scope's words; an
// admission returns -1.
func TestSharedRefusal(t *testing.T) {
	subjects := []Subject{{ID: "free"}, {ID: "key", Limits: Limits{RPM: 3}}, {ID: "team", Limits: Limits{RPM: 7}, Scope: "team"}}
	tests := []struct {
		deny    int // position among the subjects with limits
		want    int
		message string
	}{
		{-1, -1, ""},
		{0, 1, "Rate limit reached: 3 requests per minute for this key."},
		{1, 2, "Rate limit reached: 7 requests per minute for this team."},
	}
	for _, tc := range tests {
		st := &denyStore{deny: tc.deny, limit: "requests"}
		l := NewShared(st, quiet(&lockedBuffer{}))
		ts, at, d := l.AdmitAll(subjects)
		if at != tc.want || (d == nil) != (tc.deny < 0) || (d != nil && d.Message != tc.message) || (ts == nil) != (tc.deny >= 0) {
			t.Errorf("store refusing %d: tickets %v, at %d, denial %+v; want at %d, %q", tc.deny, ts, at, d, tc.want, tc.message)
		}
		ts.Done(0, 0)
		l.Close()
	}
	local := New(nil)
	if ts, at, d := local.AdmitAll(subjects); at != -1 || d != nil || ts.Len() != 2 {
		t.Errorf("in memory: %v %d %+v, want 2 tickets at -1", ts, at, d)
	}
	if ts, at, d := local.AdmitAll(subjects[:1]); at != -1 || d != nil || ts == nil || ts.Len() != 0 {
		t.Errorf("nothing limited: %v %d %+v, want no tickets at -1", ts, at, d)
	}
}
