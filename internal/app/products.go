package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/product"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/store"
)

// syncProducts upserts the products that the file declares, with their
// versions (published) and plans, so that the store and the admin API know
// them (read-only there). A product the file no longer declares stays,
// released to the API; its subscriptions remain. Run it after syncUnits:
// a product names its team.
func (s *server) syncProducts(ctx context.Context, f *config.File) error {
	declared := map[string]bool{}
	for _, cp := range f.Products {
		rec, versions, plans, err := productFromConfig(ctx, s.store, cp)
		if err != nil {
			return err
		}
		id, err := s.store.UpsertConfigProduct(ctx, rec, versions, plans)
		if err != nil {
			return fmt.Errorf("product %q: %w", cp.Name, err)
		}
		declared[id] = true
	}
	stored, err := s.store.ListProducts(ctx)
	if err != nil {
		return err
	}
	for _, p := range stored {
		if p.Source != "config" || declared[p.ID] {
			continue
		}
		if err := s.store.ReleaseConfigProduct(ctx, p.ID, store.AuditEntry{Actor: "config-file", Tenant: p.OrgID,
			Action: "product.release", ObjectType: "product", ObjectID: p.ID}); err != nil {
			return err
		}
		s.log.Info("a product is no longer in the configuration file: it is now managed through the admin API", "product", p.Name)
	}
	return nil
}

// productFromConfig converts a declared product; its team ("org/team")
// must be in the store.
func productFromConfig(ctx context.Context, st *store.Store, cp config.Product) (store.ProductRecord, []store.VersionRecord, []store.PlanRecord, error) {
	rec := store.ProductRecord{Product: product.Product{Name: cp.Name, Title: cp.Title, Description: cp.Description, Tags: cp.Tags,
		Visibility: product.Visibility(cp.Visibility), Team: cp.Team}}
	if rec.Visibility == "" {
		rec.Visibility = product.Internal
	}
	team, err := teamByPath(ctx, st, cp.Team)
	if err != nil {
		return rec, nil, nil, fmt.Errorf("product %q: %w", cp.Name, err)
	}
	rec.OrgID, rec.TeamID = team.OrgID, team.ID
	var versions []store.VersionRecord
	for _, v := range cp.Versions {
		pv := product.Version{Version: v.Version, State: product.Published, Models: map[string]string{}, Prompts: v.Prompts,
			Endpoints: v.Endpoints, Docs: v.Docs, DeprecatedAt: utc(v.DeprecatedAt), SunsetAt: utc(v.SunsetAt), Successor: v.Successor}
		for _, m := range v.Models {
			pv.Models[m] = m
		}
		for client, m := range v.Aliases {
			pv.Models[client] = m
		}
		versions = append(versions, store.VersionRecord{Version: pv})
	}
	var plans []store.PlanRecord
	for _, p := range cp.Plans {
		pl := product.Plan{Name: p.Name, RPM: p.RPM, TPM: p.TPM, MaxConcurrent: p.MaxConcurrent, Quota: p.Quota,
			QuotaPeriod: p.QuotaPeriod, Versions: p.Versions, Approval: product.Approval(p.Approval), Duration: time.Duration(p.Duration)}
		if pl.Approval == "" {
			pl.Approval = product.Manual
		}
		if b := p.Budget; b != nil {
			pl.BudgetMicros, pl.BudgetPeriod = int64(math.Round(b.AmountUSD*1e6)), b.Period
			if pl.BudgetPeriod == "" {
				pl.BudgetPeriod = "monthly"
			}
		}
		if pl.Quota > 0 && pl.QuotaPeriod == "" {
			pl.QuotaPeriod = "monthly"
		}
		plans = append(plans, store.PlanRecord{Plan: pl})
	}
	return rec, versions, plans, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// teamByPath finds the stored team "org/team".
func teamByPath(ctx context.Context, st *store.Store, path string) (store.Unit, error) {
	orgs, err := st.ListUnits(ctx, store.KindOrg, store.UnitFilter{})
	if err != nil {
		return store.Unit{}, err
	}
	for _, o := range orgs {
		teams, err := st.ListUnits(ctx, store.KindTeam, store.UnitFilter{OrgID: o.ID})
		if err != nil {
			return store.Unit{}, err
		}
		for _, t := range teams {
			if o.Name+"/"+t.Name == path {
				return t, nil
			}
		}
	}
	return store.Unit{}, fmt.Errorf("no team %q", path)
}

// productInputs reads the stored product catalogue for the snapshot: the
// products, versions, plans, open subscriptions and emergency stops.
func productInputs(ctx context.Context, st *store.Store) (runtime.ProductInputs, error) {
	var in runtime.ProductInputs
	var err error
	if in.Products, err = st.ListProducts(ctx); err != nil {
		return in, err
	}
	if in.Versions, err = st.ListVersions(ctx, ""); err != nil {
		return in, err
	}
	if in.Plans, err = st.ListPlans(ctx, ""); err != nil {
		return in, err
	}
	subs, err := st.ListSubscriptions(ctx, store.SubscriptionFilter{})
	if err != nil {
		return in, err
	}
	for _, s := range subs {
		if !s.State.Final() {
			in.Subscriptions = append(in.Subscriptions, s)
		}
	}
	in.Stops, err = st.ListStops(ctx)
	return in, err
}

// noticeLeads are the lead times before a sunset and before a
// subscription's end at which its subscribers are told, once each.
var noticeLeads = []struct {
	name string
	d    time.Duration
}{{"30d", 30 * 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"1d", 24 * time.Hour}}

// sweepProducts marks subscriptions past their end expired (the data
// plane already refuses them from the snapshot; this records the state,
// once across nodes) and sends the subscribers' notices, every period,
// until ctx ends.
func (s *server) sweepProducts(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.sweepOnce(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("product sweep failed", "err", err)
		}
	}
}

// sweepOnce expires what has ended at now and records the notices due.
func (s *server) sweepOnce(ctx context.Context, now time.Time) error {
	subs, err := s.store.ListSubscriptions(ctx, store.SubscriptionFilter{})
	if err != nil {
		return err
	}
	snap := s.snaps.Load()
	changed := false
	for _, sub := range subs {
		if sub.State != product.Active && sub.State != product.Suspended {
			continue
		}
		if sub.Expired(now) {
			_, err := s.store.TransitionSubscription(ctx, sub.ID, store.Transition{Event: product.Expire, Actor: "sluice", At: now},
				store.AuditEntry{Actor: "sluice", Tenant: sub.OrgID, Action: "subscription.expire", ObjectType: "subscription", ObjectID: sub.ID})
			if err == nil {
				changed = true
				s.log.Info("subscription expired", "subscription", sub.ID, "product", sub.Product)
			}
			continue // another node may have expired it first
		}
		for _, n := range dueNotices(snap, sub, now) {
			first, err := s.store.RecordNotice(ctx, sub.ID, n.notice, n.lead, now)
			if err != nil {
				return err
			}
			if !first {
				continue
			}
			if err := s.store.InsertAudit(ctx, store.AuditEntry{Actor: "sluice", Tenant: sub.OrgID, Action: "subscription.notice",
				ObjectType: "subscription", ObjectID: sub.ID, After: mustJSON(n)}); err != nil {
				return err
			}
			s.log.Info("subscriber notified", "subscription", sub.ID, "notice", n.notice, "lead", n.lead, "at", n.At)
			s.postNotice(ctx, sub, n)
		}
	}
	if changed {
		return s.RefreshKeys(ctx)
	}
	return nil
}

// notice is one message to a subscriber: a deprecation, a sunset or the
// subscription's end coming at At, told lead before.
type notice struct {
	notice, lead string
	Kind         string    `json:"kind"`
	Product      string    `json:"product"`
	Version      string    `json:"version,omitempty"`
	At           time.Time `json:"at"`
	Lead         string    `json:"lead"`
	Successor    string    `json:"successor,omitempty"`
}

// dueNotices lists the notices due for sub at now: the deprecation of a
// version its plan allows, once it is deprecated; and, before a sunset of
// such a version and before the subscription's end (not yet passed), the
// nearest lead time reached. Each is sent once (RecordNotice), so a
// subscriber hears at 30, 7 and 1 days.
func dueNotices(snap *runtime.Snapshot, sub store.SubscriptionRecord, now time.Time) []notice {
	var out []notice
	add := func(kind, version string, at time.Time, successor string) {
		// The nearest lead time reached: a subscriber who comes (or a
		// node that wakes) late gets the most urgent notice, not all.
		for i := len(noticeLeads) - 1; i >= 0; i-- {
			l := noticeLeads[i]
			if !now.Before(at.Add(-l.d)) && now.Before(at) {
				key := kind + ":" + sub.Product + "/" + version
				out = append(out, notice{notice: key, lead: l.name, Kind: kind, Product: sub.Product, Version: version, At: at,
					Lead: l.name, Successor: successor})
				return
			}
		}
	}
	if sub.ExpiresAt != nil {
		add("expiry", "", *sub.ExpiresAt, "")
	}
	if snap == nil || snap.Products == nil {
		return out
	}
	p := snap.Products.ByName[sub.Product]
	if p == nil {
		return out
	}
	plan := p.Plans[sub.Plan]
	for name, v := range p.Versions {
		if plan != nil && !plan.AllowsVersion(name) {
			continue
		}
		if v.DeprecatedAt != nil && !now.Before(*v.DeprecatedAt) {
			out = append(out, notice{notice: "deprecation:" + sub.Product + "/" + name, lead: "0", Kind: "deprecation", Product: sub.Product,
				Version: name, At: *v.DeprecatedAt, Lead: "0", Successor: v.Successor})
		}
		if v.SunsetAt != nil {
			add("sunset", name, *v.SunsetAt, v.Successor)
		}
	}
	return out
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// NoticeEvent is the JSON body of a subscriber notice sent to the
// alerts webhook (alerts.webhook_url).
type NoticeEvent struct {
	Type         string    `json:"type"` // "product.notice"
	Kind         string    `json:"kind"` // deprecation, sunset or expiry
	OrgID        string    `json:"org_id"`
	TeamID       string    `json:"team_id"`
	AppID        string    `json:"app_id"`
	Subscription string    `json:"subscription"`
	Product      string    `json:"product"`
	Version      string    `json:"version,omitempty"`
	At           time.Time `json:"at"`
	Lead         string    `json:"lead"`
	Successor    string    `json:"successor,omitempty"`
}

// postNotice sends a recorded notice to the alerts webhook, once (the
// notice's row is already written: a failed post is logged, not retried).
func (s *server) postNotice(ctx context.Context, sub store.SubscriptionRecord, n notice) {
	s.mu.Lock()
	url, headers := "", map[string]string(nil)
	if s.file != nil {
		url, headers = s.file.Alerts.WebhookURL, s.file.Alerts.WebhookHeaders
	}
	s.mu.Unlock()
	if url == "" {
		return
	}
	body, _ := json.Marshal(NoticeEvent{Type: "product.notice", Kind: n.Kind, OrgID: sub.OrgID, TeamID: sub.TeamID, AppID: sub.Application,
		Subscription: sub.ID, Product: n.Product, Version: n.Version, At: n.At, Lead: n.Lead, Successor: n.Successor})
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		s.log.Error("notice webhook: bad URL", "err", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	client := s.guarded
	if s.allowPrivate || client == nil {
		client = s.client
	}
	res, err := client.Do(req)
	if err == nil {
		res.Body.Close()
	}
	if err != nil || res.StatusCode >= 300 {
		s.log.Warn("notice webhook failed", "subscription", sub.ID, "status", statusOf(res, err))
	}
}
