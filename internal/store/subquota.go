package store

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// QuotaCount asks for one subscription's requests from Since onwards.
type QuotaCount struct {
	SubscriptionID string
	Since          time.Time
}

// SubscriptionRequestsSinceEach counts, in one query, each subscription's
// requests that its plan's quota counted (as SubscriptionRequestsSince
// does) from its own Since onwards. Subscriptions without requests are
// absent from the answer.
func (s *Store) SubscriptionRequestsSinceEach(ctx context.Context, asks []QuotaCount) (map[string]int64, error) {
	out := make(map[string]int64, len(asks))
	if len(asks) == 0 {
		return out, nil
	}
	var in, since strings.Builder
	args := make([]any, 0, 3*len(asks))
	since.WriteString("CASE subscription_id")
	for i, q := range asks {
		n := len(args)
		args = append(args, q.SubscriptionID, q.SubscriptionID, q.Since.UnixMicro())
		if i > 0 {
			in.WriteString(", ")
		}
		in.WriteString("$" + strconv.Itoa(n+1))
		since.WriteString(" WHEN $" + strconv.Itoa(n+2) + " THEN CAST($" + strconv.Itoa(n+3) + " AS BIGINT)")
	}
	since.WriteString(" END")
	rows, err := s.r.QueryContext(ctx, `SELECT subscription_id, count(*) FROM requests WHERE subscription_id IN (`+in.String()+
		`) AND subscription_id <> '' AND ts >= `+since.String()+` AND status <> 'limited' GROUP BY subscription_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}
