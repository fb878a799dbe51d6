package console_test

import (
	"cmp"
	"context"
	"fmt"
	"html"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// TestAlertPages: a super-admin sees the API's rules (kind, threshold,
// window, filters, channel types) and the states section, and no
// channel secret; an organisation owner is refused, as by the API, and
// has no Alerts nav entry.
func TestAlertPages(t *testing.T) {
	s := startSluice(t, demoModelYAML)
	tn := s.tenancy()
	s.admin("POST", "/admin/v1/alert-rules", map[string]any{"name": "errors-high", "kind": "error_rate", "threshold": 0.25, "window": "5m",
		"where": map[string]string{"model": "demo"}, "notify": []map[string]any{{"type": "webhook", "url": "https://hooks.example.com/x", "secret": "CANARY-secret"}}}, 201)
	super := s.browser()
	super.signInToken(adminToken)
	owner := s.browser()
	owner.signIn("owner@example.com", tn.password)
	for _, tc := range []struct {
		name string
		b    *browser
		code int
		want []string
	}{
		{"super-admin", super, http.StatusOK, []string{"errors-high", "error_rate", "0.25", "5m0s", "model=demo", `<span class="badge">webhook</span>`, "States", `aria-current="page">Alerts</a>`}},
		{"owner", owner, http.StatusForbidden, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.b.get("/console/alerts")
			checkPage(t, "/console/alerts", a)
			fatalIf(t, a.code != tc.code, "alerts page: %d\n%s", a.code, a.body)
			for _, want := range tc.want {
				if !strings.Contains(a.body, want) {
					t.Errorf("alerts page lacks %q", want)
				}
			}
			if strings.Contains(a.body, "CANARY") {
				t.Errorf("alerts page shows a channel secret")
			}
			if tc.code != http.StatusOK {
				home := tc.b.get("/console/")
				fatalIf(t, strings.Contains(home.body, `href="/console/alerts`), "%s has an Alerts nav entry", tc.name)
			}
		})
	}
}

// TestAlertTransitionPages: following the alerts page's "Older
// transitions" links shows every transition exactly once, newest first
// (then by rule and series, then a series' newest first), across times
// shared by rules and series; the first page has no "Newest" link, the
// last says there are no older ones.
func TestAlertTransitionPages(t *testing.T) {
	s := startSluice(t, "")
	st, err := store.Open(context.Background(), "", filepath.Join(s.dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	type tr struct {
		at           time.Time
		rule, series string
		seq          int64
		value        float64
	}
	var want []tr
	for r, rule := range []string{"rule-b", "rule-a", "rule-c"} {
		for sr, series := range []string{"", "model=x"} {
			for seq := int64(1); seq <= 20; seq++ {
				x := tr{base.Add(time.Duration((seq+int64(r)+int64(sr))%4) * time.Second), rule, series, seq, float64(1000*r + 100*sr + int(seq))}
				ok, err := st.TransitionAlert(ctx, store.AlertState{Rule: rule, Series: series, Seq: seq - 1},
					store.AlertState{State: "firing", Since: x.at, Value: x.value}, "node-1", []string{})
				if err != nil || !ok {
					t.Fatalf("transition: %v %v", ok, err)
				}
				want = append(want, x)
			}
		}
	}
	slices.SortFunc(want, func(a, b tr) int {
		return cmp.Or(b.at.Compare(a.at), strings.Compare(a.rule, b.rule), strings.Compare(a.series, b.series), cmp.Compare(b.seq, a.seq))
	})
	var wantRows []string
	for _, x := range want {
		wantRows = append(wantRows, fmt.Sprintf(`%s</td><td class="mono">%s</td><td>firing</td><td>%.4g`, x.rule, x.series, x.value))
	}
	b := s.browser()
	b.signInToken(adminToken)
	got, pages := b.follow("/console/alerts", transitionRE)
	if pages != 3 || strings.Join(got, "\n") != strings.Join(wantRows, "\n") {
		t.Errorf("%d pages\n%s\nwant 3 pages\n%s", pages, strings.Join(got, "\n"), strings.Join(wantRows, "\n"))
	}
	first := b.get("/console/alerts")
	if strings.Contains(first.body, `>Newest</a>`) || !strings.Contains(first.body, "Older transitions</a>") {
		t.Errorf("first page: a Newest link, or no Older transitions link")
	}
	m := olderRE.FindStringSubmatch(first.body)
	if m == nil {
		t.Fatal("no older link")
	}
	second := b.get(html.UnescapeString(m[1]))
	checkPage(t, "/console/alerts (older)", second)
	if !strings.Contains(second.body, `<a href="/console/alerts">Newest</a>`) {
		t.Errorf("an older page has no Newest link")
	}
	if bad := b.get("/console/alerts?cursor=nonsense"); bad.code != http.StatusBadRequest {
		t.Errorf("a bad cursor: %d, want 400", bad.code)
	}
}

var transitionRE = regexp.MustCompile(`<td>(rule-[a-c]</td><td class="mono">[^<]*</td><td>firing</td><td>[^<]+)</td></tr>`)
