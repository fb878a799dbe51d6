package console

import (
	"net/http"
	"net/url"

	"github.com/sluicehq/sluice/internal/admin"
)

// Alerts: the rules made through the API, every rule's series with its
// state (rules from the configuration file included), recent transitions
// and the channels switched off after failed deliveries. Read-only.

type alertsData struct {
	Rules []admin.AlertRuleInput
	admin.AlertsAnswer
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
	if err := c.api(r, u, http.MethodGet, "/admin/v1/alerts", url.Values{"limit": {"50"}}, nil, &d.AlertsAnswer); err != nil {
		return err
	}
	p.Data = d
	return nil
}

func (c *Console) alertRoutes() {
	c.mux.Handle("GET /console/alerts", c.page("alerts", "alerts", c.alerts))
}
