package runtime

import (
	"fmt"
	"math"
	"net/netip"
	"strings"

	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/store"
)

// Unit is an organisation, team or application with its limits.
type Unit struct {
	Kind, ID, Name string
	OrgID, TeamID  string // an org's OrgID is its own id; a team's TeamID too
	Limits         ratelimit.Limits
	ReserveMicros  int64
	Path           string // "org", "org/team" or "org/team/app"
}

func limitsFromConfig(l config.Limits) (ratelimit.Limits, int64) {
	lim := ratelimit.Limits{RPM: l.RPM, TPM: l.TPM, MaxConcurrent: l.MaxConcurrent}
	var reserve int64
	if b := l.Budget; b != nil {
		lim.BudgetMicros = int64(math.Round(b.AmountUSD * 1e6))
		lim.BudgetPeriod = ratelimit.Period(b.Period)
		if lim.BudgetPeriod == "" {
			lim.BudgetPeriod = ratelimit.Monthly
		}
		reserve = int64(math.Round(b.ReserveUSD * 1e6))
		lim.AlertPercents = alertArray(b.AlertPercents)
	}
	return lim, reserve
}

// alertArray packs alert thresholds for the limiter (at most
// ratelimit.MaxAlerts; validation refuses more).
func alertArray(ps []int) [ratelimit.MaxAlerts]int {
	var out [ratelimit.MaxAlerts]int
	copy(out[:], ps)
	return out
}

// StoreLimits is how the store keeps limits declared in the file (the
// units of the file are upserted into the store with them).
func StoreLimits(l config.Limits) store.Limits {
	out := store.Limits{RPM: l.RPM, TPM: l.TPM, MaxConcurrent: l.MaxConcurrent}
	if b := l.Budget; b != nil {
		out.BudgetMicros = int64(math.Round(b.AmountUSD * 1e6))
		out.BudgetPeriod = b.Period
		if out.BudgetPeriod == "" {
			out.BudgetPeriod = string(ratelimit.Monthly)
		}
		out.ReserveMicros = int64(math.Round(b.ReserveUSD * 1e6))
		out.AlertPercents = b.AlertPercents
	}
	return out
}

// LimitsFromStore converts stored limits.
func LimitsFromStore(l store.Limits) ratelimit.Limits {
	lim := ratelimit.Limits{RPM: l.RPM, TPM: l.TPM, MaxConcurrent: l.MaxConcurrent, BudgetMicros: l.BudgetMicros,
		BudgetPeriod: ratelimit.Period(l.BudgetPeriod)}
	if lim.BudgetMicros > 0 && lim.BudgetPeriod == "" {
		lim.BudgetPeriod = ratelimit.Monthly
	}
	if lim.BudgetMicros > 0 {
		lim.AlertPercents = alertArray(l.AlertPercents)
	}
	return lim
}

func networks(cidrs []string) []netip.Prefix {
	if len(cidrs) == 0 {
		return nil
	}
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		if p, err := config.ParseNetwork(c); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// compileGovernance fills in Units, Policy and TrustedProxies.
func (s *Snapshot) compileGovernance(f *config.File, units []store.Unit) error {
	s.Units = make(map[string]*Unit, len(units))
	for _, u := range units {
		s.Units[u.ID] = &Unit{Kind: u.Kind, ID: u.ID, Name: u.Name, OrgID: u.OrgID, TeamID: u.TeamID,
			Limits: LimitsFromStore(u.Limits), ReserveMicros: u.Limits.ReserveMicros}
	}
	for _, u := range s.Units {
		switch u.Kind {
		case store.KindOrg:
			u.Path = u.Name
		case store.KindTeam:
			if o := s.Units[u.OrgID]; o != nil {
				u.Path = o.Name + "/" + u.Name
			}
		case store.KindApp:
			if o, t := s.Units[u.OrgID], s.Units[u.TeamID]; o != nil && t != nil {
				u.Path = o.Name + "/" + t.Name + "/" + u.Name
			}
		}
	}
	rules := make([]authz.Rule, 0, len(f.Access.Deny))
	for _, d := range f.Access.Deny {
		r := authz.Rule{Users: d.Users}
		for _, role := range d.Roles {
			r.Roles = append(r.Roles, authz.Role(role))
		}
		if d.Org != "" {
			o := s.UnitByPath(d.Org)
			if o == nil {
				return fmt.Errorf("access.deny: no organisation %q", d.Org)
			}
			r.OrgID = o.ID
		}
		for _, a := range d.Actions {
			switch {
			case a == "*":
				r.Prefixes = append(r.Prefixes, "")
			case strings.HasSuffix(a, ".*"):
				r.Prefixes = append(r.Prefixes, strings.TrimSuffix(a, "*"))
			default:
				r.Actions = append(r.Actions, authz.Action(a))
			}
		}
		rules = append(rules, r)
	}
	p, err := authz.Compile(rules)
	if err != nil {
		return fmt.Errorf("access.deny: %w", err)
	}
	s.Policy = p
	s.TrustedProxies = networks(f.Access.TrustedProxies)
	return nil
}

// UnitByPath finds an organisation, team or application by its path.
func (s *Snapshot) UnitByPath(path string) *Unit {
	for _, u := range s.Units {
		if u.Path == path {
			return u
		}
	}
	return nil
}

// Unit returns the unit with id, or nil.
func (s *Snapshot) Unit(id string) *Unit {
	if id == "" {
		return nil
	}
	return s.Units[id]
}

// AllowsEndpoint reports whether the key may call the endpoint (an ingress
// name such as "chat.completions" or "gemini.count_tokens").
func (k *Key) AllowsEndpoint(endpoint string) bool {
	if k.Endpoints == nil || endpoint == "models" || endpoint == "usage" {
		return true
	}
	family, _, _ := strings.Cut(endpoint, ".")
	if strings.HasSuffix(endpoint, "count_tokens") && k.Endpoints["count_tokens"] {
		return true
	}
	return k.Endpoints[family]
}

// AllowsAddr reports whether a client at addr may use the key.
func (k *Key) AllowsAddr(addr netip.Addr) bool {
	if k.Networks == nil {
		return true
	}
	addr = addr.Unmap()
	for _, p := range k.Networks {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Level is one subject whose limits a request must pass, with where its
// spend is in the ledger (to seed its budget after a start).
type Level struct {
	Column   string // the ledger column of its spend: key_id, app_id, team_id, org_id or model
	LedgerID string // its value in that column
	Subject  ratelimit.Subject
	Reserve  int64 // per-request reservation instead of the worst case (0: compute)
}

// compileLevels gives every key the list of its levels with limits: the
// key, its application, team and organisation, in that order.
func (s *Snapshot) compileLevels() {
	for _, k := range s.Keys {
		var lv []Level
		if !k.Limits.IsZero() {
			lv = append(lv, Level{Column: "key_id", LedgerID: k.ID, Subject: ratelimit.Subject{ID: k.ID, Limits: k.Limits, Scope: "key"}, Reserve: k.ReserveMicros})
		}
		for _, u := range []struct{ id, column, scope string }{{k.AppID, "app_id", "application"}, {k.TeamID, "team_id", "team"}, {k.OrgID, "org_id", "organisation"}} {
			if unit := s.Unit(u.id); unit != nil && !unit.Limits.IsZero() {
				lv = append(lv, Level{Column: u.column, LedgerID: unit.ID, Subject: ratelimit.Subject{ID: unit.ID, Limits: unit.Limits, Scope: u.scope}, Reserve: unit.ReserveMicros})
			}
		}
		k.Levels = lv
	}
	for _, m := range s.Models {
		if !m.Limits.IsZero() {
			m.Level = &Level{Column: "model", LedgerID: m.Name, Subject: ratelimit.Subject{ID: "model:" + m.Name, Limits: m.Limits, Scope: "model"}, Reserve: m.ReserveMicros}
		}
	}
}
