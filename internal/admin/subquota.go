package admin

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// SubscriptionQuota is where an active subscription stands against its
// plan's request quota in the current period (what the data plane counts:
// every request but those Sluice's own limits refused).
type SubscriptionQuota struct {
	Limit    int64      `json:"limit" doc:"Requests the plan allows per period."`
	Period   string     `json:"period" doc:"daily, weekly, monthly or total."`
	Used     int64      `json:"used" doc:"Requests counted in the current period."`
	Left     int64      `json:"left" doc:"Requests left in the current period (never below 0)."`
	ResetsAt *time.Time `json:"resets_at,omitempty" doc:"When the period ends (absent for total)."`
}

// withQuotas fills the quota of every active subscription in views whose
// plan has one, with one store query for the lot.
func (a *API) withQuotas(ctx context.Context, views []SubscriptionView) error {
	now := time.Now()
	snap := a.opts.Snapshots.Load()
	var asks []store.QuotaCount
	at := map[string][]int{}
	for i := range views {
		v := &views[i]
		if v.State != "active" || snap.Products == nil {
			continue
		}
		p := snap.Products.ByName[v.Product]
		if p == nil {
			continue
		}
		pl := p.Plans[v.Plan]
		if pl == nil || pl.Quota.IsZero() {
			continue
		}
		period := pl.Quota.BudgetPeriod
		q := &SubscriptionQuota{Limit: pl.Quota.BudgetMicros, Period: string(period)}
		if end := period.End(now); !end.IsZero() {
			q.ResetsAt = &end
		}
		v.Quota = q
		if _, seen := at[v.ID]; !seen {
			asks = append(asks, store.QuotaCount{SubscriptionID: v.ID, Since: period.Start(now)})
		}
		at[v.ID] = append(at[v.ID], i)
	}
	if len(asks) == 0 {
		return nil
	}
	used, err := a.opts.Store.SubscriptionRequestsSinceEach(ctx, asks)
	if err != nil {
		return err
	}
	for id, is := range at {
		for _, i := range is {
			q := views[i].Quota
			q.Used = used[id]
			q.Left = max(0, q.Limit-q.Used)
		}
	}
	return nil
}
