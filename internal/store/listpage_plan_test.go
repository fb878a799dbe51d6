package store

import (
	"strings"
	"testing"
)

// TestListPagesUseIndexes: on SQLite, every shape of page query (a kind,
// a filter, a reach, a cursor) reads its rows in page order from an index
// (migration 0019): no table scan, no sort of the whole selection.
func TestListPagesUseIndexes(t *testing.T) {
	s := stores(t)["sqlite"]
	one := Reach{Orgs: []string{"org_1"}}
	mixed := Reach{Orgs: []string{"org_1", "org_2"}, Teams: []string{"team_3"}}
	unit := func(kind string, f UnitFilter, r Reach, after *UnitCursor) func() (string, []any) {
		return func() (string, []any) {
			q, args, err := unitPageQuery(kind, f, r, after, 101)
			if err != nil {
				t.Fatal(err)
			}
			return q, args
		}
	}
	c := &UnitCursor{OrgID: "org_1", TeamID: "team_1", Name: "n", ID: "id"}
	for _, tc := range []struct {
		name  string
		query func() (string, []any)
	}{
		{"organisations", unit(KindOrg, UnitFilter{}, Reach{All: true}, c)},
		{"an organisation's teams", unit(KindTeam, UnitFilter{OrgID: "org_1"}, Reach{All: true}, c)},
		{"the teams of one organisation's reader", unit(KindTeam, UnitFilter{}, one, c)},
		{"every team", unit(KindTeam, UnitFilter{}, Reach{All: true}, nil)},
		{"an organisation's applications", unit(KindApp, UnitFilter{OrgID: "org_1"}, one, c)},
		{"a team's applications", unit(KindApp, UnitFilter{TeamID: "team_1"}, Reach{All: true}, c)},
		{"every application", unit(KindApp, UnitFilter{}, Reach{All: true}, c)},
		{"users", func() (string, []any) { return userPageQuery(Reach{All: true}, "", "a@example.com", 101) }},
		{"users within a reach", func() (string, []any) { return userPageQuery(mixed, "usr_1", "a@example.com", 101) }},
		{"an organisation's bindings", func() (string, []any) {
			rest, args := bindingPageQuery("org_1", one, &BindingCursor{"u", "org_1", "", "viewer"}, 101)
			return "SELECT " + bindingColumns + " FROM role_bindings " + rest, args
		}},
		{"every binding", func() (string, []any) {
			rest, args := bindingPageQuery("", Reach{All: true}, &BindingCursor{"u", "org_1", "", "viewer"}, 101)
			return "SELECT " + bindingColumns + " FROM role_bindings " + rest, args
		}},
		{"an organisation's budget alerts", func() (string, []any) {
			return budgetAlertPageQuery("org_1", &BudgetAlertCursor{1, "s", 1, 10}, 101)
		}},
		{"every budget alert", func() (string, []any) { return budgetAlertPageQuery("", nil, 101) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, args := tc.query()
			plan := sqlitePlan(t, s.r, q, args...)
			for _, step := range plan {
				// An organisation's budget alerts are looked up by subject
				// (budget_alerts has no organisation column) and sorted:
				// the organisation's alerts, not the cluster's.
				if tc.name == "an organisation's budget alerts" && step == "USE TEMP B-TREE FOR ORDER BY" {
					continue
				}
				if strings.Contains(step, "TEMP B-TREE") || (strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "INDEX")) {
					t.Errorf("%s\nplan: %s", q, strings.Join(plan, " | "))
					break
				}
			}
		})
	}
}
