package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestRequestLog(t *testing.T) { forEach(t, testRequestLog) }

func testRequestLog(t *testing.T, s *Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for i := range 6 {
		c := Capture{RequestID: fmt.Sprintf("req_%d", i), Time: t0.Add(time.Duration(i) * time.Minute), OrgID: "o1",
			KeyID: []string{"k1", "k2"}[i%2], Model: []string{"m1", "m2", "m3"}[i%3], Status: []string{"ok", "upstream_error"}[i/4],
			HTTPStatus: 200, RequestBody: `{"q":1}`, ResponseBody: "a", ExpiresAt: t0.Add(time.Duration(i+1) * time.Hour)}
		if err := s.InsertCapture(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(f CaptureFilter, now time.Time) string {
		t.Helper()
		cs, err := s.SearchCaptures(ctx, f, now)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, c.RequestID)
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		name string
		f    CaptureFilter
		now  time.Time
		want string
	}{
		{"all, newest first", CaptureFilter{}, t0, "[req_5 req_4 req_3 req_2 req_1 req_0]"},
		{"by request id", CaptureFilter{RequestID: "req_3"}, t0, "[req_3]"},
		{"by key", CaptureFilter{KeyID: "k1"}, t0, "[req_4 req_2 req_0]"},
		{"by model", CaptureFilter{Model: "m2"}, t0, "[req_4 req_1]"},
		{"by status", CaptureFilter{Status: "upstream_error"}, t0, "[req_5 req_4]"},
		{"by time", CaptureFilter{From: t0.Add(2 * time.Minute), To: t0.Add(4 * time.Minute)}, t0, "[req_3 req_2]"},
		{"by organisation", CaptureFilter{OrgID: "o2"}, t0, "[]"},
		{"limit", CaptureFilter{Limit: 2}, t0, "[req_5 req_4]"},
		{"expired are hidden", CaptureFilter{}, t0.Add(3 * time.Hour), "[req_5 req_4 req_3]"},
		{"injection is data", CaptureFilter{KeyID: "k1' OR '1'='1"}, t0, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(tc.f, tc.now); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	n, err := s.SweepCaptures(ctx, t0.Add(3*time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("swept %d, %v; want 3", n, err)
	}
	var left int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM request_log`).Scan(&left); err != nil || left != 3 {
		t.Fatalf("%d left, %v", left, err)
	}
}
