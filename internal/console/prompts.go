package console

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/store"
)

// Prompts: the list, and a prompt's page with its versions, its labels
// and their history, the difference between two versions, and a form
// that moves a label (shown to who may; the API decides).

type promptData struct {
	Prompt   admin.PromptView
	History  []store.PromptLabelMove
	Diff     *admin.DiffView
	From, To int
}

func (c *Console) prompts(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Prompts"
	var list struct {
		Data []store.Prompt `json:"data"`
	}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/prompts", scopeQuery(p), nil, &list); err != nil {
		return err
	}
	p.Data = list.Data
	return nil
}

func (c *Console) promptPage(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	id := url.PathEscape(r.PathValue("id"))
	d := promptData{}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/prompts/"+id, nil, nil, &d.Prompt); err != nil {
		return err
	}
	p.Title = "Prompt " + d.Prompt.Name
	var hist struct {
		Data []store.PromptLabelMove `json:"data"`
	}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/prompts/"+id+"/history", url.Values{"limit": {"50"}}, nil, &hist); err != nil {
		return err
	}
	d.History = hist.Data
	in := r.URL.Query()
	d.From, _ = strconv.Atoi(in.Get("from"))
	d.To, _ = strconv.Atoi(in.Get("to"))
	if d.From > 0 && d.To > 0 {
		var diff admin.DiffView
		q := url.Values{"from": {strconv.Itoa(d.From)}, "to": {strconv.Itoa(d.To)}}
		if err := c.api(r, u, http.MethodGet, "/admin/v1/prompts/"+id+"/diff", q, nil, &diff); err != nil {
			p.Err = err.Error()
		} else {
			d.Diff = &diff
		}
	}
	p.Can["label"] = c.may(u, authz.PromptsWrite, authz.Scope{OrgID: d.Prompt.OrgID, TeamID: d.Prompt.TeamID})
	p.Data = d
	return nil
}

// movePromptLabel points a label at a version (PUT .../labels/{label}).
func (c *Console) movePromptLabel(r *http.Request, u *user) (string, string, error) {
	id := r.PathValue("id")
	back := "/console/prompts/" + url.PathEscape(id)
	label := r.PostForm.Get("label")
	v, err := strconv.Atoi(r.PostForm.Get("version"))
	if label == "" || err != nil || v < 1 {
		return back, "", &apiError{Status: http.StatusBadRequest, Message: "Give a label and a version number."}
	}
	body := admin.LabelInput{Version: v, Reason: r.PostForm.Get("reason")}
	err = c.api(r, u, http.MethodPut, "/admin/v1/prompts/"+url.PathEscape(id)+"/labels/"+url.PathEscape(label), nil, body, nil)
	return back, "Label " + label + " now points at version " + strconv.Itoa(v) + ".", err
}

func (c *Console) promptRoutes() {
	c.mux.Handle("GET /console/prompts", c.page("prompts", "prompts", c.prompts))
	c.mux.Handle("GET /console/prompts/{id}", c.page("prompt", "prompts", c.promptPage))
	c.mux.Handle("POST /console/prompts/{id}/labels", c.action(c.movePromptLabel))
}
