package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Product is an API product declared in the file: owned by a team, with
// versions (those declared here are published) and plans. The store holds
// it too, read-only through the admin API.
type Product struct {
	Name        string   `yaml:"name"`
	Title       string   `yaml:"title"`
	Description string   `yaml:"description"`
	Tags        []string `yaml:"tags"`
	// Team is the owning team, "org/team", as declared under orgs.
	Team string `yaml:"team"`
	// Visibility: private (its team), internal (its organisation, the
	// default) or public (every organisation).
	Visibility string           `yaml:"visibility"`
	Versions   []ProductVersion `yaml:"versions"`
	Plans      []Plan           `yaml:"plans"`
}

// ProductVersion is a published version of a product.
type ProductVersion struct {
	Version string `yaml:"version"`
	// Models are the names clients send, each a model declared under
	// models; Aliases add client names for other models (client -> model).
	Models  []string          `yaml:"models"`
	Aliases map[string]string `yaml:"aliases"`
	// Endpoints are the families exposed: chat, responses, messages,
	// gemini (default all).
	Endpoints []string `yaml:"endpoints"`
	Prompts   []string `yaml:"prompts"`
	// Docs is Markdown or a URL.
	Docs         string     `yaml:"docs"`
	DeprecatedAt *time.Time `yaml:"deprecated_at"`
	SunsetAt     *time.Time `yaml:"sunset_at"`
	// Successor is another version of this product.
	Successor string `yaml:"successor"`
}

// Plan is a way to subscribe to a product.
type Plan struct {
	Name string `yaml:"name"`
	// Limits: rpm, tpm, max_concurrent and budget, per subscription.
	Limits `yaml:",inline"`
	// Quota caps requests per QuotaPeriod (daily, weekly, monthly, total;
	// default monthly).
	Quota       int64  `yaml:"quota"`
	QuotaPeriod string `yaml:"quota_period"`
	// Versions the plan allows (default all).
	Versions []string `yaml:"versions"`
	// Approval: auto (a request is active at once) or manual (default).
	Approval string `yaml:"approval"`
	// Duration of a subscription from its approval (default: no end).
	Duration Duration `yaml:"duration"`
}

// ProductEndpoints are the accepted values of products[].versions[].endpoints.
var ProductEndpoints = []string{"chat", "responses", "messages", "gemini"}

// validateProducts checks products against the declared teams and models.
// OrgWebhook is an organisation's notification webhook
// (orgs[].notify_webhook): the subscriber notices of its applications are
// posted there instead of to alerts.webhook_url, signed with Secret
// (HMAC-SHA256 in X-Sluice-Signature, as alert webhooks are). The store
// keeps it with the secret sealed; it is read-only through the admin API.
type OrgWebhook struct {
	URL    string `yaml:"url"`
	Secret string `yaml:"secret"`
}

// validateOrgWebhooks checks each organisation's notify_webhook.
func (f *File) validateOrgWebhooks(add adder) {
	for i, o := range f.Orgs {
		h := o.NotifyWebhook
		if h == nil {
			continue
		}
		at := fmt.Sprintf("orgs[%d].notify_webhook", i)
		u, err := url.Parse(h.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(h.URL) > 2048 {
			add(at+".url", "must be an http or https URL of at most 2048 characters")
		}
		if len(h.Secret) > 512 {
			add(at+".secret", "at most 512 characters")
		}
	}
}

func (f *File) validateProducts(add adder) {
	f.validateOrgWebhooks(add)
	teams := map[string]bool{}
	for _, o := range f.Orgs {
		for _, t := range o.Teams {
			teams[o.Name+"/"+t.Name] = true
		}
	}
	models := map[string]bool{}
	for _, m := range f.Models {
		models[m.Name] = true
	}
	names := map[string]bool{}
	for i, p := range f.Products {
		at := fmt.Sprintf("products[%d]", i)
		if !validName(p.Name) {
			add(at+".name", "must be 1-64 characters of letters, digits, '-', '_' or '.'")
		} else if names[p.Name] {
			add(at+".name", "duplicate product %q", p.Name)
		}
		names[p.Name] = true
		if !teams[p.Team] {
			add(at+".team", "no team %q (write org/team, as declared under orgs)", p.Team)
		}
		switch p.Visibility {
		case "", "private", "internal", "public":
		default:
			add(at+".visibility", "must be private, internal or public")
		}
		versions := map[string]bool{}
		for j, v := range p.Versions {
			vat := fmt.Sprintf("%s.versions[%d]", at, j)
			if !validName(v.Version) {
				add(vat+".version", "must be 1-64 characters of letters, digits, '-', '_' or '.'")
			} else if versions[v.Version] {
				add(vat+".version", "duplicate version %q", v.Version)
			}
			versions[v.Version] = true
			if len(v.Models)+len(v.Aliases) == 0 {
				add(vat+".models", "a version exposes at least one model")
			}
			for k, m := range v.Models {
				if !models[m] {
					add(fmt.Sprintf("%s.models[%d]", vat, k), "no model named %q", m)
				}
			}
			for client, m := range v.Aliases {
				if client == "" || strings.ContainsAny(client, "\r\n\x00/") {
					add(vat+".aliases", "client model names must be non-empty, without '/' or control characters")
				}
				if slices.Contains(v.Models, client) {
					add(vat+".aliases."+client, "already exposed under models")
				}
				if !models[m] {
					add(vat+".aliases."+client, "no model named %q", m)
				}
			}
			for k, e := range v.Endpoints {
				if !slices.Contains(ProductEndpoints, e) {
					add(fmt.Sprintf("%s.endpoints[%d]", vat, k), "must be one of %s", strings.Join(ProductEndpoints, ", "))
				}
			}
			if v.DeprecatedAt != nil && v.SunsetAt != nil && v.SunsetAt.Before(*v.DeprecatedAt) {
				add(vat+".sunset_at", "is earlier than deprecated_at")
			}
		}
		for j, v := range p.Versions {
			if v.Successor != "" && (v.Successor == v.Version || !versions[v.Successor]) {
				add(fmt.Sprintf("%s.versions[%d].successor", at, j), "must name another version of this product")
			}
		}
		plans := map[string]bool{}
		for j, pl := range p.Plans {
			pat := fmt.Sprintf("%s.plans[%d]", at, j)
			if !validName(pl.Name) {
				add(pat+".name", "must be 1-64 characters of letters, digits, '-', '_' or '.'")
			} else if plans[pl.Name] {
				add(pat+".name", "duplicate plan %q", pl.Name)
			}
			plans[pl.Name] = true
			pl.Limits.validate(pat, add)
			if pl.Quota < 0 {
				add(pat+".quota", "must not be negative")
			}
			switch pl.QuotaPeriod {
			case "", "daily", "weekly", "monthly", "total":
			default:
				add(pat+".quota_period", "must be daily, weekly, monthly or total")
			}
			switch pl.Approval {
			case "", "auto", "manual":
			default:
				add(pat+".approval", "must be auto or manual")
			}
			if pl.Duration < 0 {
				add(pat+".duration", "must not be negative")
			}
			for k, v := range pl.Versions {
				if !versions[v] {
					add(fmt.Sprintf("%s.versions[%d]", pat, k), "no version %q in this product", v)
				}
			}
		}
	}
}
