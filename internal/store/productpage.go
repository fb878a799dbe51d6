package store

import (
	"context"
	"strings"
)

// ProductChildren returns the versions and the plans of the products ids,
// by product id, in one query: a page of products costs the same whatever
// its length.
func (s *Store) ProductChildren(ctx context.Context, ids []string) (map[string][]VersionRecord, map[string][]PlanRecord, error) {
	versions, plans := map[string][]VersionRecord{}, map[string][]PlanRecord{}
	if len(ids) == 0 {
		return versions, plans, nil
	}
	in := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		in[i], args[i] = "$"+itoa(i+1), id
	}
	list := strings.Join(in, ",")
	rows, err := s.r.QueryContext(ctx, `SELECT 'v', `+childColumns+` FROM product_versions WHERE product_id IN (`+list+`)
 UNION ALL SELECT 'p', `+childColumns+` FROM plans WHERE product_id IN (`+list+`) ORDER BY 2, 3`, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var c childRow
		if err := rows.Scan(&kind, &c.id, &c.productID, &c.name, &c.state, &c.spec, &c.source, &c.requestedBy, &c.created, &c.updated, &c.rev); err != nil {
			return nil, nil, err
		}
		if kind == "p" {
			p, err := c.plan()
			if err != nil {
				return nil, nil, err
			}
			plans[p.ProductID] = append(plans[p.ProductID], p)
			continue
		}
		v, err := c.version()
		if err != nil {
			return nil, nil, err
		}
		versions[v.ProductID] = append(versions[v.ProductID], v)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return versions, plans, nil
}
