package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// EndpointScopes are the accepted values of keys[].endpoints: endpoint
// families of the data plane. "models" and "usage" are always allowed.
var EndpointScopes = []string{"chat", "responses", "messages", "embeddings", "gemini", "count_tokens"}

// Roles are the accepted role names (see package authz).
var Roles = []string{"owner", "admin", "developer", "viewer", "auditor"}

// ParseNetwork parses a CIDR or a single address (as a /32 or /128).
func ParseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (10.0.0.0/8) or an IP address", s)
}

type adder func(path, format string, args ...any)

func (l Limits) validate(at string, add adder) {
	if l.RPM < 0 || l.TPM < 0 || l.MaxConcurrent < 0 {
		add(at, "rpm, tpm and max_concurrent must not be negative")
	}
	b := l.Budget
	if b == nil {
		return
	}
	if b.AmountUSD <= 0 || b.AmountUSD > 1e9 || b.AmountUSD != b.AmountUSD {
		add(at+".budget.amount_usd", "must be a positive amount of dollars")
	}
	if b.ReserveUSD < 0 || b.ReserveUSD != b.ReserveUSD {
		add(at+".budget.reserve_usd", "must not be negative")
	}
	switch b.Period {
	case "", "daily", "weekly", "monthly", "total":
	default:
		add(at+".budget.period", "must be daily, weekly, monthly or total")
	}
	if len(b.AlertPercents) > 8 {
		add(at+".budget.alert_percents", "at most 8 thresholds")
	}
	for j, p := range b.AlertPercents {
		if p < 1 || p > 1000 {
			add(fmt.Sprintf("%s.budget.alert_percents[%d]", at, j), "must be a percentage from 1 to 1000")
		}
	}
}

// validateGovernance checks orgs and access, and returns the declared
// applications as "org/team/application".
func (f *File) validateGovernance(add adder) map[string]bool {
	apps := map[string]bool{}
	orgs := map[string]map[string]bool{} // org -> teams
	for i, o := range f.Orgs {
		at := fmt.Sprintf("orgs[%d]", i)
		if !validName(o.Name) {
			add(at+".name", "must be 1-64 characters of letters, digits, '-', '_' or '.'")
		} else if orgs[o.Name] != nil {
			add(at+".name", "duplicate organisation %q", o.Name)
		}
		teams := map[string]bool{}
		orgs[o.Name] = teams
		o.Limits.validate(at, add)
		for j, t := range o.Teams {
			at := fmt.Sprintf("%s.teams[%d]", at, j)
			if !validName(t.Name) {
				add(at+".name", "must be 1-64 characters of letters, digits, '-', '_' or '.'")
			} else if teams[t.Name] {
				add(at+".name", "duplicate team %q in organisation %q", t.Name, o.Name)
			}
			teams[t.Name] = true
			t.Limits.validate(at, add)
			seen := map[string]bool{}
			for k, a := range t.Applications {
				at := fmt.Sprintf("%s.applications[%d]", at, k)
				if !validName(a.Name) {
					add(at+".name", "must be 1-64 characters of letters, digits, '-', '_' or '.'")
				} else if seen[a.Name] {
					add(at+".name", "duplicate application %q in team %q", a.Name, t.Name)
				}
				seen[a.Name] = true
				a.Limits.validate(at, add)
				apps[o.Name+"/"+t.Name+"/"+a.Name] = true
			}
		}
	}
	for i, r := range f.Access.Deny {
		at := fmt.Sprintf("access.deny[%d]", i)
		if len(r.Roles) == 0 && len(r.Users) == 0 {
			add(at, "name roles or users")
		}
		for j, role := range r.Roles {
			if !slices.Contains(Roles, role) {
				add(fmt.Sprintf("%s.roles[%d]", at, j), "must be one of %s", strings.Join(Roles, ", "))
			}
		}
		if len(r.Actions) == 0 {
			add(at+".actions", "name at least one action")
		}
	}
	for i, n := range f.Access.TrustedProxies {
		if _, err := ParseNetwork(n); err != nil {
			add(fmt.Sprintf("access.trusted_proxies[%d]", i), "%v", err)
		}
	}
	if u := f.Alerts.WebhookURL; u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		add("alerts.webhook_url", "must be an http or https URL")
	}
	for k, v := range f.Alerts.WebhookHeaders {
		if k == "" || strings.ContainsAny(k+v, "\r\n\x00") {
			add("alerts.webhook_headers", "header names must be non-empty and values without CR, LF or NUL")
		}
	}
	if o := f.Access.OIDC; o != nil {
		if !strings.HasPrefix(o.Issuer, "https://") && !strings.HasPrefix(o.Issuer, "http://") {
			add("access.oidc.issuer", "must be the issuer URL")
		}
		if o.ClientID == "" {
			add("access.oidc.client_id", "is required")
		}
		if !strings.HasPrefix(o.RedirectURL, "https://") && !strings.HasPrefix(o.RedirectURL, "http://") {
			add("access.oidc.redirect_url", "must be the absolute URL of /admin/v1/auth/oidc/callback")
		}
		for j, m := range o.RoleMap {
			at := fmt.Sprintf("access.oidc.role_map[%d]", j)
			if m.Value == "" {
				add(at+".value", "is required")
			}
			if !slices.Contains(Roles, m.Role) {
				add(at+".role", "must be one of %s", strings.Join(Roles, ", "))
			}
			if teams, ok := orgs[m.Org]; m.Org == "" || (ok && m.Team != "" && !teams[m.Team]) {
				add(at, "names no organisation (and team) declared under orgs")
			}
		}
		if len(o.RoleMap) > 0 && o.RoleClaim == "" {
			add("access.oidc.role_claim", "is required with role_map")
		}
	}
	return apps
}
