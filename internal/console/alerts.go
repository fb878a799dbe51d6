package console

import (
	"net/http"
	"net/url"

	"github.com/sluicehq/sluice/internal/admin"
)

// Alerts: the rules made through the API, every rule's series with its
// state (rules from the configuration file included), recent transitions
// and the channels switched off after failed deliveries. Read-only. The
// transitions page 50 at a time, newest first: "Older transitions" follows
// the API's transitions_next_cursor.

type alertsData struct {
	Rules []admin.AlertRuleInput
	admin.AlertsAnswer
	Older string // the link to the next, older transitions ("" on the last page)
	Paged bool   // these are not the newest transitions
}

func (c *Console) alerts(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Alerts"
	d := alertsData{}
	var rules struct {
		Data []admin.AlertRuleInput `json:"data"`
	}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/alert-rules", nil, nil, &rules); err != nil {
		return err
	}
	d.Rules = rules.Data
	q := url.Values{"limit": {"50"}}
	if cur := r.URL.Query().Get("cursor"); cur != "" {
		q.Set("cursor", cur)
		d.Paged = true
	}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/alerts", q, nil, &d.AlertsAnswer); err != nil {
		return err
	}
	d.Older = olderLink("/console/alerts", url.Values{}, d.TransitionsNextCursor)
	p.Data = d
	return nil
}

func (c *Console) alertRoutes() {
	c.mux.Handle("GET /console/alerts", c.page("alerts", "alerts", c.alerts))
}
