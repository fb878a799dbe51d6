package store

import (
	"context"
	"fmt"
	"strings"
)

// KeyCursor is the position of one key in the order of name then id.
type KeyCursor struct {
	Name, ID string
}

// KeyPage returns up to limit key records in the units f names within
// reach, revoked ones included, in the order of name then id, after the key
// at after (nil: from the first). It reads only the page's rows, on the key
// name indexes.
func (s *Store) KeyPage(ctx context.Context, f KeyFilter, reach Reach, after *KeyCursor, limit int) ([]KeyRecord, error) {
	if limit <= 0 || limit > 1001 {
		limit = 100
	}
	if reach.none() {
		return []KeyRecord{}, nil
	}
	q, args := `SELECT `+keyColumns+` FROM api_keys`, []any{}
	var where []string
	if c := reach.clause("org_id", "team_id", &args); c != "" {
		where = append(where, c)
	}
	for _, c := range []struct{ col, v string }{{"org_id", f.OrgID}, {"team_id", f.TeamID}, {"app_id", f.AppID}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	if after != nil {
		args = append(args, after.Name, after.ID)
		where = append(where, fmt.Sprintf("(name, id) > ($%d, $%d)", len(args)-1, len(args)))
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, q+fmt.Sprintf(` ORDER BY name, id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, err
	}
	return scanKeys(rows)
}
