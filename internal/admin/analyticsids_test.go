package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

// TestAnalyticsIDLists: key_ids and app_ids answer only the listed keys'
// or applications' series, within the scope the other filters authorise.
// On SQLite and, where SLUICE_TEST_POSTGRES_DSN names one, PostgreSQL.
func TestAnalyticsIDLists(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAnalyticsIDLists(t, "") })
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		if dsn == "" {
			t.Skip("SLUICE_TEST_POSTGRES_DSN is not set")
		}
		testAnalyticsIDLists(t, dsn)
	})
}

func testAnalyticsIDLists(t *testing.T, dsn string) {
	w := newWorldOn(t, dsn)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Minute)
	var es []ledger.Entry
	for i := range 30 {
		x := []string{"A", "B"}[i%2]
		es = append(es, ledger.Entry{RequestID: fmt.Sprintf("ids-%d", i), Time: now.Add(-time.Duration(i) * time.Minute),
			Endpoint: "chat.completions", KeyID: w.ids["key"+x], OrgID: w.ids["org"+x], TeamID: w.ids["team"+x], AppID: w.ids["app"+x],
			Model: "m", Provider: "p", Status: ledger.StatusOK, HTTPStatus: 200, CostMicros: int64(1 + i), Latency: time.Millisecond})
	}
	if err := w.e.st.InsertEntries(ctx, es); err != nil {
		t.Fatal(err)
	}
	base := "/admin/v1/analytics?from=" + url.QueryEscape(now.Add(-2*time.Hour).Format(time.RFC3339)) + "&to=" +
		url.QueryEscape(now.Add(time.Minute).Format(time.RFC3339)) + "&interval=1h&metrics=requests"
	for _, tc := range []struct {
		name, q string
		code    int
		want    []string // the groups answered, in order
	}{
		{"one key", "&group_by=key&key_ids=" + w.ids["keyA"], 200, []string{w.ids["keyA"]}},
		{"two keys", "&group_by=key&key_ids=" + w.ids["keyA"] + "," + w.ids["keyB"], 200, sorted(w.ids["keyA"], w.ids["keyB"])},
		{"two applications", "&group_by=application&app_ids=" + w.ids["appB"] + "," + w.ids["appA"], 200, sorted(w.ids["appA"], w.ids["appB"])},
		{"a key outside the organisation", "&group_by=key&org_id=" + w.ids["orgB"] + "&key_ids=" + w.ids["keyA"] + "," + w.ids["keyB"], 200,
			[]string{w.ids["keyB"]}},
		{"no such key", "&group_by=key&key_ids=key_nope", 200, nil},
		{"with key_id", "&key_id=" + w.ids["keyA"] + "&key_ids=" + w.ids["keyA"], 400, nil},
		{"an empty id", "&key_ids=" + w.ids["keyA"] + ",", 400, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.must(w.as("super", "GET", base+tc.q, ""), tc.code, "analytics")
			if tc.code != 200 {
				return
			}
			var a struct {
				Series []struct{ Group map[string]string }
			}
			if err := json.Unmarshal([]byte(r.raw), &a); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range a.Series {
				for _, v := range s.Group {
					got = append(got, v)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("groups %v, want %v", got, tc.want)
			}
		})
	}
}

func sorted(s ...string) []string { slices.Sort(s); return s }
