package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

func TestRequestPages(t *testing.T) { forEach(t, testRequestPages) }

// testRequestPages walks the ledger newest first in pages whose cursors
// land inside runs of entries with the same time: every entry comes back
// exactly once, in order.
func testRequestPages(t *testing.T, s *Store) {
	ctx := context.Background()
	base := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	var batch []ledger.Entry
	for i := range 23 {
		// Four entries share each time; ids do not follow time.
		batch = append(batch, ledger.Entry{RequestID: fmt.Sprintf("req-%02d", (i*7)%23), Time: base.Add(time.Duration(i/4) * time.Second),
			Endpoint: "/v1/chat/completions", KeyID: "k1", Model: "m", Status: ledger.StatusOK, OrgID: "o1"})
	}
	if err := s.InsertEntries(ctx, batch); err != nil {
		t.Fatal(err)
	}
	want, err := s.ListRequests(ctx, RequestFilter{Limit: 100, OrgID: "o1"})
	if err != nil || len(want) != len(batch) {
		t.Fatalf("ListRequests = %d entries, %v", len(want), err)
	}
	for _, size := range []int{1, 3, 4, 5, 22, 23} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			var got []string
			f := RequestFilter{Limit: size, OrgID: "o1"}
			for pages := 0; pages <= len(batch); pages++ {
				page, err := s.ListRequests(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				for _, e := range page {
					got = append(got, e.RequestID)
				}
				last := page[len(page)-1]
				f.Before = &RequestCursor{TS: last.Time.UnixMicro(), RequestID: last.RequestID}
			}
			if len(got) != len(want) {
				t.Fatalf("pages of %d gave %d entries, want %d: %v", size, len(got), len(want), got)
			}
			for i := range want {
				if got[i] != want[i].RequestID {
					t.Fatalf("pages of %d: entry %d is %s, want %s (all: %v)", size, i, got[i], want[i].RequestID, got)
				}
			}
		})
	}
	for i := 1; i < len(want); i++ {
		a, b := want[i-1], want[i]
		if a.Time.Before(b.Time) || (a.Time.Equal(b.Time) && a.RequestID < b.RequestID) {
			t.Fatalf("entries %d and %d are not newest first: %s %s", i-1, i, a.RequestID, b.RequestID)
		}
	}
}

func TestAuditPages(t *testing.T) { forEach(t, testAuditPages) }

// testAuditPages walks the audit log newest first in pages, entries all
// with the same time: every entry comes back exactly once, in order.
func testAuditPages(t *testing.T, s *Store) {
	ctx := context.Background()
	ts := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	for i := range 11 {
		if err := s.InsertAudit(ctx, AuditEntry{Time: ts, Actor: "a", Tenant: "o-pages", Action: "x", ObjectID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	want, err := s.ListAudit(ctx, AuditFilter{Tenant: "o-pages"})
	if err != nil || len(want) != 11 {
		t.Fatalf("ListAudit = %d entries, %v", len(want), err)
	}
	for _, size := range []int{1, 2, 5, 11} {
		var got []string
		f := AuditFilter{Limit: size, Tenant: "o-pages"}
		for pages := 0; pages <= len(want); pages++ {
			page, err := s.ListAudit(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				got = append(got, e.ObjectID)
			}
			f.BeforeID = page[len(page)-1].ID
		}
		if fmt.Sprint(got) != fmt.Sprint(objectIDs(want)) {
			t.Fatalf("pages of %d: %v, want %v", size, got, objectIDs(want))
		}
	}
}

func objectIDs(es []AuditEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ObjectID
	}
	return out
}
