package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Keyset pages of the lists that grow with use: organisations, teams and
// applications, users, role bindings, budget alerts and captures. Each
// page is one query (users: two, with their bindings) that reads only the
// page's rows on an index that gives its order (migration 0019), after
// the row a cursor names; rows written in between never shift a page.

// Reach is what a paged list may read: every row (All), or the rows of
// organisations Orgs and of teams Teams. It narrows a query to a superset
// of what the reader may see; the caller still decides each row.
type Reach struct {
	All   bool
	Orgs  []string
	Teams []string
}

// none reports whether r reaches no row at all.
func (r Reach) none() bool { return !r.All && len(r.Orgs) == 0 && len(r.Teams) == 0 }

// clause returns the condition that keeps the rows of r, on the given
// organisation and team columns, adding its arguments to args ("" when r
// is All).
func (r Reach) clause(orgCol, teamCol string, args *[]any) string {
	if r.All {
		return ""
	}
	var or []string
	for _, c := range []struct {
		col string
		ids []string
	}{{orgCol, r.Orgs}, {teamCol, r.Teams}} {
		if len(c.ids) == 0 {
			continue
		}
		ps := make([]string, len(c.ids))
		for i, id := range c.ids {
			*args = append(*args, id)
			ps[i] = fmt.Sprintf("$%d", len(*args))
		}
		if len(ps) == 1 {
			or = append(or, c.col+" = "+ps[0])
		} else {
			or = append(or, c.col+" IN ("+strings.Join(ps, ", ")+")")
		}
	}
	if len(or) == 1 {
		return or[0]
	}
	return "(" + strings.Join(or, " OR ") + ")"
}

// bindArgs appends vals to args and returns "$n, $m, ...".
func bindArgs(args *[]any, vals ...any) string {
	ps := make([]string, len(vals))
	for i, v := range vals {
		*args = append(*args, v)
		ps[i] = fmt.Sprintf("$%d", len(*args))
	}
	return strings.Join(ps, ", ")
}

func pageSize(limit int) int {
	if limit <= 0 || limit > 1001 {
		return 100
	}
	return limit
}

// UnitCursor is a unit's position in its kind's page order: organisations
// by name then id, teams by organisation, name and id, applications by
// organisation, team, name and id.
type UnitCursor struct {
	OrgID, TeamID, Name, ID string
}

// unitOrder is the page order's columns of a kind.
func unitOrder(kind string) []string {
	switch kind {
	case KindOrg:
		return []string{"name", "id"}
	case KindTeam:
		return []string{"org_id", "name", "id"}
	}
	return []string{"org_id", "team_id", "name", "id"}
}

// values returns the cursor's fields of the order columns cols.
func (c UnitCursor) values(cols []string) []any {
	var out []any
	for _, col := range cols {
		switch col {
		case "org_id":
			out = append(out, c.OrgID)
		case "team_id":
			out = append(out, c.TeamID)
		case "name":
			out = append(out, c.Name)
		case "id":
			out = append(out, c.ID)
		}
	}
	return out
}

// CursorOf is u's position in its kind's page order.
func (u Unit) CursorOf() UnitCursor {
	return UnitCursor{OrgID: u.OrgID, TeamID: u.TeamID, Name: u.Name, ID: u.ID}
}

// UnitPage returns up to limit units of kind that f selects within reach,
// in the kind's page order (see UnitCursor), after the unit at after (nil:
// from the first).
func (s *Store) UnitPage(ctx context.Context, kind string, f UnitFilter, reach Reach, after *UnitCursor, limit int) ([]Unit, error) {
	if reach.none() {
		return []Unit{}, nil
	}
	q, args, err := unitPageQuery(kind, f, reach, after, limit)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanUnits(kind, rows)
}

func unitPageQuery(kind string, f UnitFilter, reach Reach, after *UnitCursor, limit int) (string, []any, error) {
	table, err := unitTable(kind)
	if err != nil {
		return "", nil, err
	}
	var args []any
	var where []string
	for _, c := range []struct{ col, v string }{{"org_id", f.OrgID}, {"team_id", f.TeamID}} {
		if c.v != "" {
			where = append(where, c.col+" = "+bindArgs(&args, c.v))
		}
	}
	if c := reach.clause("org_id", "team_id", &args); c != "" {
		where = append(where, c)
	}
	// Leading columns that the filter fixes (a team fixes its organisation
	// too) are left out of the order, so that the index that starts with
	// the filter's column gives it.
	cols := unitOrder(kind)
	for len(cols) > 2 && (cols[0] == "org_id" && (f.OrgID != "" || f.TeamID != "") || cols[0] == "team_id" && f.TeamID != "") {
		cols = cols[1:]
	}
	order := strings.Join(cols, ", ")
	if after != nil {
		where = append(where, "("+order+") > ("+bindArgs(&args, after.values(cols)...)+")")
	}
	q := `SELECT ` + unitColumns + ` FROM ` + table
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return q + " ORDER BY " + order + " LIMIT " + bindArgs(&args, pageSize(limit)), args, nil
}

// UserPage returns up to limit users by email after the user with email
// after ("": from the first): every user when reach is All, else those
// with a role binding within reach, and the user self.
func (s *Store) UserPage(ctx context.Context, reach Reach, self, after string, limit int) ([]User, error) {
	q, args := userPageQuery(reach, self, after, limit)
	if q == "" {
		return []User{}, nil
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanUsers(rows)
}

// userPageQuery is UserPage's query, "" when it reaches no user.
func userPageQuery(reach Reach, self, after string, limit int) (string, []any) {
	var args []any
	var where []string
	if !reach.All {
		var or []string
		if !reach.none() {
			or = append(or, `EXISTS (SELECT 1 FROM role_bindings b WHERE b.user_id = users.id AND `+
				reach.clause("b.org_id", "b.team_id", &args)+`)`)
		}
		if self != "" {
			or = append(or, "id = "+bindArgs(&args, self))
		}
		if len(or) == 0 {
			return "", nil
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	if after != "" {
		where = append(where, "email > "+bindArgs(&args, after))
	}
	q := `SELECT ` + userColumns + ` FROM users`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return q + " ORDER BY email LIMIT " + bindArgs(&args, pageSize(limit)), args
}

// BindingsOf returns the bindings of the users ids, by user, org, team
// and role: one query for a page of users.
func (s *Store) BindingsOf(ctx context.Context, ids []string) ([]Binding, error) {
	if len(ids) == 0 {
		return []Binding{}, nil
	}
	var args []any
	vals := make([]any, len(ids))
	for i, id := range ids {
		vals[i] = id
	}
	return s.bindings(ctx, `WHERE user_id IN (`+bindArgs(&args, vals...)+`) ORDER BY user_id, org_id, team_id, role`, args...)
}

// BindingCursor is a role binding's position in the order of user, org,
// team and role (which the bindings' uniqueness makes total).
type BindingCursor struct {
	UserID, OrgID, TeamID, Role string
}

// BindingPage returns up to limit role bindings over org orgID ("": any)
// within reach, by user, org, team and role, after after (nil: from the
// first).
func (s *Store) BindingPage(ctx context.Context, orgID string, reach Reach, after *BindingCursor, limit int) ([]Binding, error) {
	if reach.none() {
		return []Binding{}, nil
	}
	rest, args := bindingPageQuery(orgID, reach, after, limit)
	return s.bindings(ctx, rest, args...)
}

// bindingPageQuery is what follows BindingPage's SELECT ... FROM.
func bindingPageQuery(orgID string, reach Reach, after *BindingCursor, limit int) (string, []any) {
	var args []any
	var where []string
	if orgID != "" {
		where = append(where, "org_id = "+bindArgs(&args, orgID))
	}
	if c := reach.clause("org_id", "team_id", &args); c != "" {
		where = append(where, c)
	}
	if after != nil {
		where = append(where, "(user_id, org_id, team_id, role) > ("+
			bindArgs(&args, after.UserID, after.OrgID, after.TeamID, after.Role)+")")
	}
	rest := ""
	if len(where) > 0 {
		rest = "WHERE " + strings.Join(where, " AND ") + " "
	}
	return rest + "ORDER BY user_id, org_id, team_id, role LIMIT " + bindArgs(&args, pageSize(limit)), args
}

// BudgetAlertCursor is a budget alert's position, newest first.
type BudgetAlertCursor struct {
	TS          int64 // unix microseconds
	Subject     string
	PeriodStart int64 // unix microseconds
	Percent     int
}

// CursorOf is a's position in the budget alerts' page order.
func (a BudgetAlert) CursorOf() BudgetAlertCursor {
	return BudgetAlertCursor{TS: a.Time.UnixMicro(), Subject: a.Subject, PeriodStart: a.PeriodStart.UnixMicro(), Percent: a.Percent}
}

// BudgetAlertPage returns up to limit budget alerts of organisation
// orgID (its own, its teams', applications' and keys'; "": every alert),
// newest first (then by subject, period and percent, descending), after
// after (nil: from the newest). One query, whatever the organisation's
// size.
func (s *Store) BudgetAlertPage(ctx context.Context, orgID string, after *BudgetAlertCursor, limit int) ([]BudgetAlert, error) {
	q, args := budgetAlertPageQuery(orgID, after, limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanBudgetAlerts(rows)
}

func budgetAlertPageQuery(orgID string, after *BudgetAlertCursor, limit int) (string, []any) {
	var args []any
	var where []string
	if orgID != "" {
		p := bindArgs(&args, orgID)
		where = append(where, `(subject = `+p+` OR subject IN (SELECT id FROM teams WHERE org_id = `+p+`)
 OR subject IN (SELECT id FROM apps WHERE org_id = `+p+`) OR subject IN (SELECT id FROM api_keys WHERE org_id = `+p+`))`)
	}
	if after != nil {
		where = append(where, "(ts, subject, period_start, percent) < ("+
			bindArgs(&args, after.TS, after.Subject, after.PeriodStart, after.Percent)+")")
	}
	q := `SELECT subject, period_start, percent, spent_micros, budget_micros, ts FROM budget_alerts`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return q + " ORDER BY ts DESC, subject DESC, period_start DESC, percent DESC LIMIT " + bindArgs(&args, pageSize(limit)), args
}

func scanBudgetAlerts(rows *sql.Rows) ([]BudgetAlert, error) {
	defer rows.Close()
	out := []BudgetAlert{}
	for rows.Next() {
		var a BudgetAlert
		var start, ts int64
		if err := rows.Scan(&a.Subject, &start, &a.Percent, &a.SpentMicros, &a.BudgetMicros, &ts); err != nil {
			return nil, err
		}
		a.PeriodStart, a.Time = time.UnixMicro(start).UTC(), time.UnixMicro(ts).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}
