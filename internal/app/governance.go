package app

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/login"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/store"
)

// syncUnits upserts the organisations, teams and applications that the
// file declares, so that the store (and the admin API) know them with
// stable ids. Units the API created stay; a unit the file no longer
// declares stays too, released to the API (its keys and history remain).
func (s *server) syncUnits(ctx context.Context, f *config.File) error {
	declared := map[string]bool{}
	for _, o := range f.Orgs {
		orgID, err := s.store.UpsertConfigUnit(ctx, store.Unit{Kind: store.KindOrg, Name: o.Name, Description: o.Description,
			Limits: runtime.StoreLimits(o.Limits)})
		if err != nil {
			return err
		}
		declared[orgID] = true
		for _, t := range o.Teams {
			teamID, err := s.store.UpsertConfigUnit(ctx, store.Unit{Kind: store.KindTeam, OrgID: orgID, Name: t.Name,
				Description: t.Description, Limits: runtime.StoreLimits(t.Limits)})
			if err != nil {
				return err
			}
			declared[teamID] = true
			for _, a := range t.Applications {
				appID, err := s.store.UpsertConfigUnit(ctx, store.Unit{Kind: store.KindApp, OrgID: orgID, TeamID: teamID,
					Name: a.Name, Description: a.Description, Limits: runtime.StoreLimits(a.Limits)})
				if err != nil {
					return err
				}
				declared[appID] = true
			}
		}
	}
	// A unit the file declared before and no longer does becomes an API
	// unit: the admin API can then change or delete it.
	for _, kind := range []string{store.KindApp, store.KindTeam, store.KindOrg} {
		units, err := s.store.ListUnits(ctx, kind, store.UnitFilter{})
		if err != nil {
			return err
		}
		for _, u := range units {
			if u.Source != "config" || declared[u.ID] {
				continue
			}
			if err := s.store.ReleaseConfigUnit(ctx, kind, u.ID, store.AuditEntry{Actor: "config-file", Tenant: u.OrgID,
				Action: kind + ".release", ObjectType: kind, ObjectID: u.ID}); err != nil {
				return err
			}
			s.log.Info("a unit is no longer in the configuration file: it is now managed through the admin API", "kind", kind, "id", u.ID, "name", u.Name)
		}
	}
	return s.syncPrompts(ctx, f)
}

// watchGeneration recompiles whenever the store's generation moves: a key
// or unit changed on another node (or through another process). It is how
// a revocation reaches every node within a second without Redis. Every ten
// minutes it also deletes expired login sessions.
func (s *server) watchGeneration(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var swept time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(swept) > 10*time.Minute { // expired login sessions go too
			swept = time.Now()
			if _, err := s.store.DeleteExpiredSessions(ctx, swept); err != nil && ctx.Err() == nil {
				s.log.Warn("deleting expired sessions failed", "err", err)
			}
		}
		g, err := s.store.Generation(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("reading the change generation failed", "err", err)
			}
			continue
		}
		if g != s.generation.Load() {
			if err := s.recompile(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("recompiling after a change on another node failed", "err", err)
			}
		}
	}
}

// alerts records budget threshold crossings: one row per subject, period
// and threshold across the cluster, a log line and a counter.
type alerts struct {
	store *store.Store
	log   *slog.Logger
	fired atomic.Int64
	// webhook, when set, receives each recorded alert (config alerts:).
	webhook func() (url string, headers map[string]string)
	client  *http.Client
}

// BudgetAlertEvent is the JSON body of the budget alert webhook.
type BudgetAlertEvent struct {
	Type         string    `json:"type"` // "budget.threshold_crossed"
	Subject      string    `json:"subject"`
	Percent      int       `json:"percent"`
	SpentUSD     float64   `json:"spent_usd"`
	BudgetUSD    float64   `json:"budget_usd"`
	SpentMicros  int64     `json:"spent_micros"`
	BudgetMicros int64     `json:"budget_micros"`
	PeriodStart  time.Time `json:"period_start,omitzero"`
	Time         time.Time `json:"time"`
}

func (a *alerts) hook(al ratelimit.Alert) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, err := a.store.RecordBudgetAlert(ctx, al.ID, al.PeriodStart, al.Percent, al.SpentMicros, al.BudgetMicros, time.Now())
	if err != nil {
		a.log.Error("budget alert not recorded", "subject", al.ID, "percent", al.Percent, "err", err)
		return
	}
	if !first {
		return
	}
	a.fired.Add(1)
	a.log.Warn("budget threshold crossed", "subject", al.ID, "percent", al.Percent,
		"spent_usd", strconv.FormatFloat(float64(al.SpentMicros)/1e6, 'f', 6, 64),
		"budget_usd", strconv.FormatFloat(float64(al.BudgetMicros)/1e6, 'f', 6, 64))
	if a.webhook == nil {
		return
	}
	url, headers := a.webhook()
	if url == "" {
		return
	}
	body, _ := json.Marshal(BudgetAlertEvent{Type: "budget.threshold_crossed", Subject: al.ID, Percent: al.Percent,
		SpentUSD: float64(al.SpentMicros) / 1e6, BudgetUSD: float64(al.BudgetMicros) / 1e6, SpentMicros: al.SpentMicros,
		BudgetMicros: al.BudgetMicros, PeriodStart: al.PeriodStart, Time: time.Now().UTC()})
	// The hook runs on a goroutine of its own: a slow receiver delays no
	// request. Three tries, 1 s then 4 s apart.
	for try, wait := range []time.Duration{0, time.Second, 4 * time.Second} {
		time.Sleep(wait)
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			a.log.Error("budget alert webhook: bad URL", "err", err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := a.client.Do(req.WithContext(rctx))
		if err == nil {
			res.Body.Close()
		}
		cancel()
		if err == nil && res.StatusCode < 300 {
			return
		}
		a.log.Warn("budget alert webhook failed", "try", try+1, "status", statusOf(res, err))
	}
}

func statusOf(res *http.Response, err error) string {
	if err != nil {
		return "unreachable"
	}
	return res.Status
}

func (a *alerts) register(reg *metrics.Registry) {
	reg.Gauge("sluice_budget_alerts_total", "Budget thresholds crossed and recorded by this node (cumulative).", func(emit func(map[string]string, float64)) {
		emit(nil, float64(a.fired.Load()))
	})
}

// oidcProvider builds single sign-on from the file, or nil.
// The login cookie's key is derived from the KEK, so that a login started on
// one node can finish on another.
func oidcProvider(ctx context.Context, f *config.File, client *http.Client, cookieKey []byte) (*login.Provider, error) {
	o := f.Access.OIDC
	if o == nil {
		return nil, nil
	}
	cfg := login.Config{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL,
		Scopes: o.Scopes, RoleClaim: o.RoleClaim, AllowedDomains: o.AllowedDomains}
	for _, m := range o.RoleMap {
		cfg.RoleMap = append(cfg.RoleMap, login.RoleMapping{Value: m.Value, Role: m.Role, Org: m.Org, Team: m.Team})
	}
	cfg.CookieKey = cookieKey
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return login.NewProvider(dctx, cfg, client)
}
