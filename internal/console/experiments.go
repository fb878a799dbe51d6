package console

import (
	"net/http"
	"net/url"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/experiment"
)

// Experiments: the list, and an experiment's results (per arm n, the
// metric's rate or mean with its interval, each arm's difference from the
// control, the sample-ratio flag) with a promote button for who may write
// the gateway's configuration (super-admins).

type experimentData struct {
	Exp     experiment.Experiment
	Results experiment.Report
}

func (c *Console) experiments(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Experiments"
	var list struct {
		Data []experiment.Experiment `json:"data"`
	}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/experiments", nil, nil, &list); err != nil {
		return err
	}
	p.Data = list.Data
	return nil
}

func (c *Console) experimentPage(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	id := "/admin/v1/experiments/" + url.PathEscape(r.PathValue("id"))
	d := experimentData{}
	if err := c.api(r, u, http.MethodGet, id, nil, nil, &d.Exp); err != nil {
		return err
	}
	if err := c.api(r, u, http.MethodGet, id+"/results", nil, nil, &d.Results); err != nil {
		return err
	}
	p.Title = "Experiment " + d.Exp.Name
	p.Can["promote"] = d.Exp.Status == experiment.StatusRunning && c.may(u, authz.GatewayWrite, authz.Scope{})
	p.Data = d
	return nil
}

func (c *Console) promoteExperiment(r *http.Request, u *user) (string, string, error) {
	id := r.PathValue("id")
	back := "/console/experiments/" + url.PathEscape(id)
	arm := r.PostForm.Get("arm")
	if arm == "" {
		return back, "", &apiError{Status: http.StatusBadRequest, Message: "Choose the arm to promote."}
	}
	body := admin.PromoteInput{Arm: arm, Reason: r.PostForm.Get("reason")}
	err := c.api(r, u, http.MethodPost, "/admin/v1/experiments/"+url.PathEscape(id)+"/promote", nil, body, nil)
	return back, "Arm " + arm + " promoted.", err
}

func (c *Console) experimentRoutes() {
	c.mux.Handle("GET /console/experiments", c.page("experiments", "experiments", c.experiments))
	c.mux.Handle("GET /console/experiments/{id}", c.page("experiment", "experiments", c.experimentPage))
	c.mux.Handle("POST /console/experiments/{id}/promote", c.action(c.promoteExperiment))
}
