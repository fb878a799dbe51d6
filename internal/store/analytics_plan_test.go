package store

import (
	"strings"
	"testing"
)

// TestAnalyticsReadsCoveringIndex: every shape of analytics read (sums
// summed in SQL, histograms streamed, grouped or not, filtered by a unit)
// scans the analytics_rollup_covering index alone on SQLite, without
// fetching each row from the table.
func TestAnalyticsReadsCoveringIndex(t *testing.T) {
	s := stores(t)["sqlite"]
	all := make([]bool, len(rollupSumColumns))
	some := make([]bool, len(rollupSumColumns))
	for i := range all {
		all[i], some[i] = true, i%3 == 0
	}
	for _, tc := range []struct {
		name   string
		grain  string
		iv     int64
		groups []string
		ranks  []string
		where  map[string]string
		want   stretchColumns
	}{
		{"day rows by model, key and application", GrainDay, 86400, []string{"model", "key_id", "app_id"}, nil, nil, stretchColumns{sums: some}},
		{"an organisation's month by unit", GrainDay, 86400, []string{"org_id", "team_id", "app_id", "key_id"}, nil,
			map[string]string{"org_id": "org-1"}, stretchColumns{sums: some}},
		{"hour rows with histograms", GrainHour, 3600, nil, nil, map[string]string{"org_id": "org-1"}, stretchColumns{all, true, true}},
		{"minute rows of a key, latency", GrainMinute, 300, []string{"prompt_version"}, nil, map[string]string{"key_id": "k"},
			stretchColumns{some, true, false}},
		{"every column", GrainHour, 3600, []string{"status"}, nil, nil, stretchColumns{all, true, true}},
		{"hour rows ranked by model, key and application", GrainHour, 21600, nil, []string{"model", "key_id", "app_id"},
			map[string]string{"org_id": "org-1"}, stretchColumns{some, true, false}},
		{"day rows ranked, summed in SQL", GrainDay, 86400, []string{"model"}, []string{"key_id", "prompt_version"}, nil,
			stretchColumns{sums: some}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, args := s.stretchQuery(tc.grain, 0, 1<<40, tc.iv, tc.groups, tc.ranks, tc.where, tc.want)
			plan := sqlitePlan(t, s.r, q, args...)
			if p := strings.Join(plan, "; "); !strings.Contains(p, "USING COVERING INDEX analytics_rollup_covering") {
				t.Fatalf("%s\nplan: %s", q, p)
			}
		})
	}
}
