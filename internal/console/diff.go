package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/authz"
)

// Product versions: what a version (usually a draft) changes against
// another (by default the newest published one), over GET
// /admin/v1/products/{id}/versions/{version}/diff: models added, removed
// and repointed, prompt APIs and endpoints added and removed, and the
// docs as a line diff. Publish and deprecate are offered to who may; they
// post to the products page's lifecycle action.

type modelChange struct {
	Name, From, To string // From "" added, To "" removed
}

type diffLine struct {
	Op   string // " ", "+", "-"
	Text string
}

type fieldChange struct {
	Field, From, To string
}

type versionDiffData struct {
	Product        productView
	Version        string
	State          string
	Against        string
	AgainstState   string
	Others         []string // versions to compare with
	Unchanged      bool
	Models         []modelChange
	PromptsAdded   []string
	PromptsRemoved []string
	EndAdded       []string
	EndRemoved     []string
	Docs           []diffLine
	DocsChanged    bool
	DocsTooLong    bool
	Other          []fieldChange
}

func (c *Console) versionDiff(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	id, ver := r.PathValue("id"), r.PathValue("version")
	d := versionDiffData{Version: ver}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/products/"+url.PathEscape(id), nil, nil, &d.Product); err != nil {
		return err
	}
	p.Title = "Product " + d.Product.Name + " " + ver
	for _, v := range d.Product.Versions {
		if v.Version.Version == ver {
			d.State = string(v.State)
		} else {
			d.Others = append(d.Others, v.Version.Version)
		}
	}
	q := url.Values{}
	if a := r.URL.Query().Get("against"); a != "" {
		q.Set("against", a)
	}
	var ans struct {
		Version string                        `json:"version"`
		Against string                        `json:"against"`
		Changes map[string][2]json.RawMessage `json:"changes"`
	}
	err := c.api(r, u, http.MethodGet, "/admin/v1/products/"+url.PathEscape(id)+"/versions/"+url.PathEscape(ver)+"/diff", q, nil, &ans)
	if statusOf(err) == http.StatusConflict {
		p.Err = err.Error() // nothing published to compare with: the page still offers the controls
	} else if err != nil {
		return err
	}
	d.Against = ans.Against
	for _, v := range d.Product.Versions {
		if v.Version.Version == d.Against {
			d.AgainstState = string(v.State)
		}
	}
	d.fill(ans.Changes)
	d.Unchanged = err == nil && len(ans.Changes) == 0
	scope := authz.Scope{OrgID: d.Product.OrgID, TeamID: d.Product.TeamID}
	p.Can["write"] = !d.Product.ReadOnly && c.mayAt(u, productsWrite, scope)
	p.Data = d
	return nil
}

// mayAt is may decided at exactly s (not anywhere below it), for an
// action the policy may not know (unknown is no).
func (c *Console) mayAt(u *user, a authz.Action, s authz.Scope) bool {
	if c.opts.Snapshots == nil || !slices.Contains(authz.Actions, a) {
		return false
	}
	snap := c.opts.Snapshots.Load()
	return snap != nil && snap.Policy != nil && snap.Policy.Allowed(u.pr, a, s)
}

// fill reads the API's changes: field -> [against's value, version's].
func (d *versionDiffData) fill(changes map[string][2]json.RawMessage) {
	for field, ch := range changes {
		switch field {
		case "models":
			var from, to map[string]string
			_ = json.Unmarshal(ch[0], &from)
			_ = json.Unmarshal(ch[1], &to)
			for name, t := range to {
				if f := from[name]; f != t {
					d.Models = append(d.Models, modelChange{name, f, t})
				}
			}
			for name, f := range from {
				if _, ok := to[name]; !ok {
					d.Models = append(d.Models, modelChange{name, f, ""})
				}
			}
			slices.SortFunc(d.Models, func(a, b modelChange) int { return strings.Compare(a.Name, b.Name) })
		case "prompts":
			d.PromptsAdded, d.PromptsRemoved = setDiff(ch)
		case "endpoints":
			d.EndAdded, d.EndRemoved = setDiff(ch)
		case "docs":
			var from, to string
			_ = json.Unmarshal(ch[0], &from)
			_ = json.Unmarshal(ch[1], &to)
			d.DocsChanged = true
			d.Docs, d.DocsTooLong = lineDiff(from, to)
		case "state":
			// the page shows both states
		default:
			d.Other = append(d.Other, fieldChange{field, string(ch[0]), string(ch[1])})
		}
	}
	slices.SortFunc(d.Other, func(a, b fieldChange) int { return strings.Compare(a.Field, b.Field) })
}

// setDiff is what a version's list adds and removes.
func setDiff(ch [2]json.RawMessage) (added, removed []string) {
	var from, to []string
	_ = json.Unmarshal(ch[0], &from)
	_ = json.Unmarshal(ch[1], &to)
	for _, x := range to {
		if !slices.Contains(from, x) {
			added = append(added, x)
		}
	}
	for _, x := range from {
		if !slices.Contains(to, x) {
			removed = append(removed, x)
		}
	}
	return added, removed
}

// maxDiffCells bounds the line diff's table (lines of a times lines of
// b); past it the docs are shown as removed, then added.
const maxDiffCells = 4 << 20

// lineDiff is a shortest edit script of a into b by lines (a longest
// common subsequence). tooLong says the texts were too long to align.
func lineDiff(a, b string) (out []diffLine, tooLong bool) {
	as, bs := splitLines(a), splitLines(b)
	if len(as)*len(bs) > maxDiffCells {
		for _, l := range as {
			out = append(out, diffLine{"-", l})
		}
		for _, l := range bs {
			out = append(out, diffLine{"+", l})
		}
		return out, true
	}
	// lcs[i][j] is the longest common subsequence of as[i:] and bs[j:].
	lcs := make([][]int32, len(as)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(bs)+1)
	}
	for i := len(as) - 1; i >= 0; i-- {
		for j := len(bs) - 1; j >= 0; j-- {
			if as[i] == bs[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(as) || j < len(bs) {
		switch {
		case i < len(as) && j < len(bs) && as[i] == bs[j]:
			out = append(out, diffLine{" ", as[i]})
			i, j = i+1, j+1
		case i < len(as) && (j == len(bs) || lcs[i+1][j] >= lcs[i][j+1]): // removals before additions
			out = append(out, diffLine{"-", as[i]})
			i++
		default:
			out = append(out, diffLine{"+", bs[j]})
			j++
		}
	}
	return out, false
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(strings.ReplaceAll(s, "\r\n", "\n"), "\n"), "\n")
}

func (c *Console) diffRoutes() {
	c.mux.Handle("GET /console/products/{id}/versions/{version}/diff", c.page("productdiff", "productdiff", c.versionDiff))
	c.mux.Handle("GET /console/product-versions", c.page("productversions", "productdiff", c.productVersions))
}

// productVersions lists every product's versions with a link to each
// one's diff: drafts first.
func (c *Console) productVersions(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Product versions"
	var list struct {
		Data []productView `json:"data"`
	}
	err := c.api(r, u, http.MethodGet, "/admin/v1/products", nil, nil, &list)
	if productsMissing(err) {
		p.Data = productsData{Missing: true}
		return nil
	}
	if err != nil {
		return err
	}
	var shown []productView
	for _, pr := range list.Data {
		if p.Org == "" || pr.OrgID == p.Org {
			shown = append(shown, pr)
		}
	}
	p.Data = productsData{Products: shown}
	return nil
}
