package console_test

import (
	"context"
	"fmt"
	"html"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/store"
)

var (
	olderRE     = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
	requestIDRE = regexp.MustCompile(`<dt>Request id</dt><dd class="mono">([^<]+)</dd>`)
	auditIDRE   = regexp.MustCompile(`paged <span class="mono">([^<]+)</span>`)
)

// follow opens path and its "Older entries" links until the last page and
// returns what re finds on each page, in order.
func (b *browser) follow(path string, re *regexp.Regexp) (rows []string, pages int) {
	b.t.Helper()
	for path != "" {
		if pages++; pages > 50 {
			b.t.Fatalf("still an older page after %d pages", pages)
		}
		a := b.get(path)
		if a.code != 200 {
			b.t.Fatalf("GET %s: %d\n%s", path, a.code, a.body)
		}
		for _, m := range re.FindAllStringSubmatch(a.body, -1) {
			rows = append(rows, m[1])
		}
		path = ""
		if m := olderRE.FindStringSubmatch(a.body); m != nil {
			path = html.UnescapeString(m[1])
			if !strings.HasPrefix(path, "/console/") {
				b.t.Fatalf("the older link leaves the console: %q", path)
			}
		}
	}
	return rows, pages
}

// TestOlderLinksVisitEveryRow: following the ledger explorer's and the
// audit log's "Older entries" links shows every row exactly once, newest
// first, entries with the same time included, and keeps the filters.
func TestOlderLinksVisitEveryRow(t *testing.T) {
	s := startSluice(t, "")
	st, err := store.Open(context.Background(), "", filepath.Join(s.dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var want []string
	var batch []ledger.Entry
	for i := range 57 { // three entries a second: pages end inside runs of one time
		id := fmt.Sprintf("req-paged-%02d", (i*11)%57)
		batch = append(batch, ledger.Entry{RequestID: id, Time: base.Add(time.Duration(i/3) * time.Second),
			Endpoint: "/v1/chat/completions", KeyID: "k-paged", Model: "paged-model", Status: ledger.StatusOK})
	}
	if err := st.InsertEntries(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for i := len(batch) - 1; i >= 0; i -= 3 { // newest first; within a second, the greater id first
		run := []string{}
		for j := i; j > i-3 && j >= 0; j-- {
			run = append(run, batch[j].RequestID)
		}
		for j := range run { // sort the run descending
			for k := j + 1; k < len(run); k++ {
				if run[k] > run[j] {
					run[j], run[k] = run[k], run[j]
				}
			}
		}
		want = append(want, run...)
	}
	for i := range 450 {
		if err := st.InsertAudit(ctx, store.AuditEntry{Time: base.Add(time.Duration(i/4) * time.Second), Actor: "t", Action: "x",
			ObjectType: "paged", ObjectID: fmt.Sprintf("obj-%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	b := s.browser()
	b.signInToken(adminToken)

	got, pages := b.follow("/console/ledger?limit=25&model=paged-model", requestIDRE)
	if pages != 3 || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("ledger: %d pages\n%v\nwant 3 pages\n%v", pages, got, want)
	}
	got, pages = b.follow("/console/audit?object_type=paged", auditIDRE)
	if pages != 3 || len(got) != 450 {
		t.Fatalf("audit log: %d pages, %d rows, want 3 pages of 450 rows", pages, len(got))
	}
	for i, id := range got {
		if w := fmt.Sprintf("obj-%03d", 449-i); id != w {
			t.Fatalf("audit row %d is %s, want %s", i, id, w)
		}
	}
}
