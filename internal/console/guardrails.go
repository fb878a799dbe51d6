package console

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/sluicehq/sluice/internal/admin"
)

// Guardrails and cache: the running guardrails (name, type, action,
// stages, where attached) and response cache settings, with the last 24
// hours' verdicts and cache results from the ledger, over GET
// /admin/v1/guardrails and GET /admin/v1/cache. Read-only: both are set in
// the configuration file.

type guardrailsData struct {
	Guard   admin.GuardrailsAnswer
	Cache   admin.CacheAnswer
	Lookups int64 // hits and misses
	Hits    int64
	Saved   int64 // micro-dollars
	HitRate string
}

func (c *Console) guardrails(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Guardrails and cache"
	d := guardrailsData{}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/guardrails", nil, nil, &d.Guard); err != nil {
		return err
	}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/cache", nil, nil, &d.Cache); err != nil {
		return err
	}
	for _, x := range d.Cache.Results {
		switch x.Result {
		case "hit":
			d.Hits += x.Requests
			d.Lookups += x.Requests
		case "miss":
			d.Lookups += x.Requests
		}
		d.Saved += x.SavedCostMicros
	}
	d.HitRate = "—"
	if d.Lookups > 0 {
		d.HitRate = percent(d.Hits, d.Lookups)
	}
	p.Data = d
	return nil
}

// percent is part of whole as a percentage with one decimal.
func percent(part, whole int64) string {
	tenths := (part*1000 + whole/2) / whole
	return itoa64(tenths/10) + "." + itoa64(tenths%10) + "%"
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// Template helpers of these pages, added to the package's.
func init() {
	funcs["sub64"] = func(a, b int64) int64 { return a - b }
	// navHas reports whether the navigation holds key: a page of these
	// is listed when the page it belongs with is (the same API right).
	funcs["navHas"] = func(nav []navItem, key string) bool {
		return slices.ContainsFunc(nav, func(n navItem) bool { return n.Key == key })
	}
}

func (c *Console) guardrailRoutes() {
	c.mux.Handle("GET /console/guardrails", c.page("guardrails", "guardrails", c.guardrails))
}
