package ratelimit

import (
	"testing"
	"time"
)

// TestRollRemembersPeriod: roll keeps the period it last computed so that
// a roll within it computes no dates; it must start a new period exactly
// when computing the start every time would, across every boundary, a
// change of period, a seed and a clock that steps back.
func TestRollRemembersPeriod(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	steps := []struct {
		p    Period
		now  string
		seed string // when set, the period start seed writes (spend 500)
	}{
		{Monthly, "2026-01-31T23:59:59.999Z", ""},
		{Monthly, "2026-01-31T23:59:59.5Z", ""},
		{Monthly, "2026-02-01T00:00:00Z", ""}, // a new month
		{Monthly, "2026-02-14T12:00:00Z", ""},
		{Daily, "2026-02-14T12:00:01Z", ""}, // the period changes: a new day start is later
		{Daily, "2026-02-14T23:59:59Z", ""},
		{Daily, "2026-02-15T00:00:00Z", ""},
		{Weekly, "2026-02-15T10:00:00Z", ""}, // Sunday: the week began on Monday the 9th
		{Weekly, "2026-02-16T00:00:00Z", ""}, // Monday: a new week
		{Weekly, "2026-02-16T00:00:01Z", "2026-02-23T00:00:00Z"},
		{Weekly, "2026-02-22T23:00:00Z", ""},
		{Weekly, "2026-02-23T00:00:00Z", ""},
		{Weekly, "2026-02-20T00:00:00Z", ""}, // the clock steps back
		{Weekly, "2026-02-23T00:00:01Z", ""},
		{Total, "2026-03-01T00:00:00Z", ""},
		{"", "2026-04-01T00:00:00Z", ""},
		{Monthly, "2026-04-01T00:00:00Z", ""},
		{Monthly, "2026-04-30T23:59:59Z", "2026-04-01T00:00:00Z"},
		{Monthly, "2026-05-01T00:00:00+02:00", ""}, // still April in UTC
		{Monthly, "2026-05-01T00:00:00Z", ""},
		{Monthly, "2028-02-29T10:00:00Z", ""},
	}
	var got, want keyState
	for _, st := range steps {
		now := at(st.now)
		if st.seed != "" {
			for _, s := range []*keyState{&got, &want} {
				s.periodStart, s.spent = at(st.seed), 500
			}
		}
		lim := Limits{BudgetMicros: 1000, BudgetPeriod: st.p}
		got.roll(lim, now)
		// The roll as it computed the start every time.
		if minute := now.Unix() / 60; want.window != minute {
			want.window, want.requests, want.tokens = minute, 0, 0
		}
		if st.p != "" && st.p != Total {
			if start := st.p.Start(now); start.After(want.periodStart) {
				want.periodStart, want.spent = start, 0
			}
		}
		if !got.periodStart.Equal(want.periodStart) || got.spent != want.spent || got.window != want.window {
			t.Fatalf("%s %s: period from %s spent %d, want from %s spent %d", st.p, st.now, got.periodStart, got.spent, want.periodStart, want.spent)
		}
		got.spent += 7
		want.spent += 7
	}
}
