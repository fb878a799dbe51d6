package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/alert"
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
	if err := s.syncOrgWebhooks(ctx, f); err != nil {
		return err
	}
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

// syncOrgWebhooks stores the notification webhooks the file's
// organisations declare (source config, the secret sealed), and removes a
// declared one the file no longer has; one unchanged is left as it is.
// Changes are audited as the configuration file's.
func (s *server) syncOrgWebhooks(ctx context.Context, f *config.File) error {
	orgs, err := s.store.ListUnits(ctx, store.KindOrg, store.UnitFilter{})
	if err != nil {
		return err
	}
	byName := map[string]string{}
	for _, o := range orgs {
		byName[o.Name] = o.ID
	}
	declared := map[string]bool{}
	for _, o := range f.Orgs {
		id := byName[o.Name]
		if o.NotifyWebhook == nil || id == "" {
			continue
		}
		declared[id] = true
		h := store.OrgWebhook{OrgID: id, URL: o.NotifyWebhook.URL, Source: "config"}
		old, err := s.store.GetOrgWebhook(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err == nil && old.Source == "config" && old.URL == h.URL && s.sameSecret(ctx, old, o.NotifyWebhook.Secret) {
			continue
		}
		if sec := o.NotifyWebhook.Secret; sec != "" {
			if s.keyring == nil {
				return fmt.Errorf("orgs %q notify_webhook: no keyring to seal the secret", o.Name)
			}
			if h.SecretCiphertext, err = s.keyring.Seal(ctx, sec, admin.OrgWebhookAAD(id)); err != nil {
				return err
			}
			if len(sec) >= 12 {
				h.SecretLast4 = sec[len(sec)-4:]
			}
		}
		audit := store.AuditEntry{Actor: "config-file", Tenant: id, Action: "org.notify_webhook.set", ObjectType: "org", ObjectID: id,
			After: mustJSON(map[string]any{"url": admin.AuditWebhookURL(h.URL), "has_secret": h.SecretCiphertext != ""})}
		if _, err := s.store.PutOrgWebhook(ctx, h, 0, &audit); err != nil {
			return fmt.Errorf("orgs %q notify_webhook: %w", o.Name, err)
		}
	}
	stored, err := s.store.ListOrgWebhooks(ctx)
	if err != nil {
		return err
	}
	for _, h := range stored {
		if h.Source != "config" || declared[h.OrgID] {
			continue
		}
		audit := store.AuditEntry{Actor: "config-file", Tenant: h.OrgID, Action: "org.notify_webhook.delete", ObjectType: "org", ObjectID: h.OrgID}
		if err := s.store.DeleteOrgWebhook(ctx, h.OrgID, &audit); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// sameSecret reports whether the stored webhook's sealed secret is secret.
func (s *server) sameSecret(ctx context.Context, h store.OrgWebhook, secret string) bool {
	if h.SecretCiphertext == "" || secret == "" {
		return h.SecretCiphertext == "" && secret == ""
	}
	if s.keyring == nil {
		return false
	}
	got, err := s.keyring.Open(ctx, h.SecretCiphertext, admin.OrgWebhookAAD(h.OrgID))
	return err == nil && got == secret
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
			body, err := json.Marshal(noticeEvent(sub, n))
			if err != nil {
				return err
			}
			first, err := s.store.RecordNotice(ctx, store.Notice{SubscriptionID: sub.ID, Notice: n.notice, Lead: n.lead, OrgID: sub.OrgID,
				Body: body, At: now}, &store.AuditEntry{Actor: "sluice", Tenant: sub.OrgID, Action: "subscription.notice",
				ObjectType: "subscription", ObjectID: sub.ID, After: mustJSON(n)})
			if err != nil {
				return err
			}
			if !first {
				continue
			}
			s.log.Info("subscriber notified", "subscription", sub.ID, "notice", n.notice, "lead", n.lead, "at", n.At)
		}
	}
	if err := s.deliverNotices(ctx, now); err != nil {
		return err
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

// NoticeEvent is the JSON body of a subscriber notice, posted to the
// webhook of the subscriber's organisation, or to the alerts webhook
// (alerts.webhook_url) when the organisation has none.
type NoticeEvent struct {
	// ID is stable per subscription, notice and lead time: a receiver may
	// use it to drop a repeated delivery.
	ID           string    `json:"id"`
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

func noticeEvent(sub store.SubscriptionRecord, n notice) NoticeEvent {
	return NoticeEvent{ID: sub.ID + "/" + n.notice + "/" + n.lead, Type: "product.notice", Kind: n.Kind, OrgID: sub.OrgID,
		TeamID: sub.TeamID, AppID: sub.Application, Subscription: sub.ID, Product: n.Product, Version: n.Version, At: n.At,
		Lead: n.Lead, Successor: n.Successor}
}

// Notice delivery: each recorded notice is claimed by one node for
// noticeLease, posted, and marked delivered; a failed post is tried again
// after a backoff (5 s doubling to 10 min), at most maxNoticeAttempts
// times. A batch is posted concurrently, and a sweep stops claiming after
// noticeBudget, so that a slow organisation webhook (15 s timeout) holds
// up neither the other organisations' notices nor the sweeper for long.
const (
	noticeLease       = 2 * time.Minute
	maxNoticeAttempts = 8
	noticeBatch       = 8
	noticeBudget      = 10 * time.Second
)

// deliverNotices posts the notices due at now.
func (s *server) deliverNotices(ctx context.Context, now time.Time) error {
	began := time.Now()
	for time.Since(began) < noticeBudget {
		due, err := s.store.ClaimNotices(ctx, now, noticeLease, noticeBatch)
		if err != nil {
			return err
		}
		var wg sync.WaitGroup
		for _, n := range due {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.deliverNotice(ctx, n, now)
			}()
		}
		wg.Wait()
		if len(due) < noticeBatch {
			return nil
		}
	}
	return nil
}

// noticeTarget is where a notice goes: the organisation's own webhook
// (signed with its secret), else the alerts webhook with its headers.
type noticeTarget struct {
	url, secret string
	headers     map[string]string
	org         bool
}

// noticeTarget returns the subscriber organisation's webhook, else the
// alerts webhook; url is "" when there is neither.
func (s *server) noticeTarget(ctx context.Context, orgID string) (noticeTarget, error) {
	h, err := s.store.GetOrgWebhook(ctx, orgID)
	switch {
	case err == nil:
		t := noticeTarget{url: h.URL, org: true}
		if h.SecretCiphertext != "" {
			if s.keyring == nil {
				return t, errors.New("no keyring to open the webhook's secret")
			}
			if t.secret, err = s.keyring.Open(ctx, h.SecretCiphertext, admin.OrgWebhookAAD(orgID)); err != nil {
				return t, err
			}
		}
		return t, nil
	case !errors.Is(err, store.ErrNotFound):
		return noticeTarget{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return noticeTarget{}, nil
	}
	return noticeTarget{url: s.file.Alerts.WebhookURL, headers: s.file.Alerts.WebhookHeaders}, nil
}

// deliverNotice posts one claimed notice and records the outcome.
func (s *server) deliverNotice(ctx context.Context, n store.Notice, now time.Time) {
	t, err := s.noticeTarget(ctx, n.OrgID)
	if err == nil && t.url == "" {
		if ferr := s.store.FinishNotice(ctx, n, true, "no webhook", now); ferr != nil {
			s.log.Warn("notice delivery: record", "err", ferr)
		}
		return
	}
	if err == nil {
		err = s.postNotice(ctx, t, n.Body, now)
	}
	if err == nil {
		if ferr := s.store.FinishNotice(ctx, n, true, "", now); ferr != nil {
			s.log.Warn("notice delivery: record", "err", ferr)
		}
		return
	}
	tries := n.Attempts + 1
	s.log.Warn("notice webhook failed", "subscription", n.SubscriptionID, "notice", n.Notice, "lead", n.Lead, "org_webhook", t.org,
		"try", tries, "err", err)
	done, msg := tries >= maxNoticeAttempts, err.Error()
	if done {
		msg = fmt.Sprintf("gave up after %d tries: %v", tries, err)
	}
	if ferr := s.store.FinishNotice(ctx, n, done, msg, now.Add(noticeBackoff(tries))); ferr != nil {
		s.log.Warn("notice delivery: record", "err", ferr)
	}
}

// noticeBackoff is the pause after the n-th failed try: 5 s doubling to 10 min.
func noticeBackoff(n int64) time.Duration {
	d := 5 * time.Second
	for range max(n-1, 0) {
		if d *= 2; d >= 10*time.Minute {
			return 10 * time.Minute
		}
	}
	return d
}

// postNotice posts body to t, signed (X-Sluice-Signature, as alert
// webhooks are) when t has a secret; a non-2xx answer is an error. The
// client dials only public addresses unless --allow-private-upstreams.
func (s *server) postNotice(ctx context.Context, t noticeTarget, body []byte, now time.Time) error {
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("the webhook URL does not parse")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Sluice-Notices/1")
	for k, v := range t.headers {
		req.Header.Set(k, v)
	}
	if t.secret != "" {
		req.Header.Set(alert.SignatureHeader, alert.Sign(t.secret, now, body))
	}
	client := s.guarded
	if s.allowPrivate || client == nil {
		client = s.client
	}
	res, err := client.Do(req)
	if err != nil {
		// net/http quotes the whole URL, whose path or query often holds
		// the receiver's token: the log and the notice's row get the
		// scheme and host only.
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("%s %s: %w", ue.Op, admin.AuditWebhookURL(t.url), ue.Err)
		}
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s", res.Status)
	}
	return nil
}
