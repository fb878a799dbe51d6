package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
)

// TestLimitsIsZero: a subject limits nothing when none of its limits is
// positive; alert thresholds alone limit nothing.
func TestLimitsIsZero(t *testing.T) {
	tests := []struct {
		lim  Limits
		want bool
	}{
		{Limits{}, true},
		{Limits{RPM: -1, TPM: -1, MaxConcurrent: -1, BudgetMicros: -1}, true},
		{Limits{AlertPercents: [MaxAlerts]int{50}, BudgetPeriod: Daily}, true},
		{Limits{RPM: 1}, false},
		{Limits{TPM: 1}, false},
		{Limits{MaxConcurrent: 1}, false},
		{Limits{BudgetMicros: 1}, false},
	}
	for _, tc := range tests {
		if got := tc.lim.IsZero(); got != tc.want {
			t.Errorf("%+v.IsZero() = %v, want %v", tc.lim, got, tc.want)
		}
	}
}

// TestTicketsAccess: Ticket(i) returns the i-th admitted subject's ticket
// (subjects without limits are left out), nil out of range or on nil.
func TestTicketsAccess(t *testing.T) {
	l := New(nil)
	ts, _, d := l.AdmitAll([]Subject{{ID: "a", Limits: Limits{RPM: 5}}, {ID: "b"}, {ID: "c", Limits: Limits{TPM: 5}}})
	if d != nil {
		t.Fatal(d)
	}
	defer ts.Done(0, 0)
	tests := []struct {
		i    int
		want string // the ticket's subject; "": nil
	}{
		{-1, ""}, {0, "a"}, {1, "c"}, {2, ""},
	}
	for _, tc := range tests {
		got := ""
		if tk := ts.Ticket(tc.i); tk != nil {
			got = tk.id
		}
		if got != tc.want {
			t.Errorf("Ticket(%d) is of %q, want %q", tc.i, got, tc.want)
		}
	}
	var none *Tickets
	if ts.Len() != 2 || none.Len() != 0 || none.Ticket(0) != nil {
		t.Fatalf("Len %d, nil Len %d", ts.Len(), none.Len())
	}
}

// TestLostAnswer: only a timeout may have run in the store; an error that
// never reached it did not.
func TestLostAnswer(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{fmt.Errorf("admit: %w", context.DeadlineExceeded), true},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, false},
		{context.Canceled, false},
		{errDown, false},
	}
	for _, tc := range tests {
		if got := lostAnswer(tc.err); got != tc.want {
			t.Errorf("lostAnswer(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
