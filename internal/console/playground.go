package console

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/prompt"
)

// The prompt playground: a version's variables as a form. "Render" asks
// the admin API to render the messages (POST .../render: nothing is sent
// upstream). "Run" is static/playground.js: it posts the variables to the
// data plane's POST /prompts/{name}@{version} with an API key the user
// pastes, so the key's limits, budget, guardrails and the ledger apply;
// the key stays in the page (its input has no name: no form sends it to
// the console, and nothing stores or logs it). The answer streams into
// the page; tokens and cost come from the ledger entry of its request id
// (GET /console/playground/usage), because the data plane sends no cost
// header and only includes a stream's usage when the version's params
// ask for it.

//go:embed static/playground.js
var playgroundJS []byte

// pagesCSS styles these pages (diff lines, the streamed answer).
//
//go:embed static/pages.css
var pagesCSS []byte

// consolePagesRoutes registers the playground, guardrail and cache, product
// diff and limit editing pages.
func (c *Console) consolePagesRoutes() {
	m := c.mux
	m.HandleFunc("GET /console/static/playground.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		writeMaybeGzip(w, r, http.StatusOK, playgroundJS)
	})
	m.HandleFunc("GET /console/static/pages.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		writeMaybeGzip(w, r, http.StatusOK, pagesCSS)
	})
	m.Handle("GET /console/playground", c.page("playgrounds", "playground", c.playgroundIndex))
	m.Handle("GET /console/playground/usage", http.HandlerFunc(c.playgroundUsage))
	m.Handle("GET /console/prompts/{id}/versions/{version}/playground", c.page("playground", "playground", c.playground))
	m.Handle("POST /console/prompts/{id}/versions/{version}/playground", c.page("playground", "playground", c.playground))
	c.guardrailRoutes()
	c.diffRoutes()
	c.limitRoutes()
}

// varField is one variable of the form, from the version's schema.
type varField struct {
	Name, Type, Description, Value string
	Required                       bool
	Enum                           []string
}

type playgroundData struct {
	Prompt   admin.PromptView
	Version  prompt.Version
	Fields   []varField
	Rendered *admin.RenderAnswer
	RunPath  string
}

type playgroundsData struct {
	Prompts []admin.PromptView
}

func (c *Console) playgroundIndex(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Prompt playground"
	var list struct {
		Data []admin.PromptView `json:"data"`
	}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/prompts", scopeQuery(p), nil, &list); err != nil {
		return err
	}
	p.Data = playgroundsData{Prompts: list.Data}
	return nil
}

func (c *Console) playground(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	id := r.PathValue("id")
	n, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || n < 1 {
		return &apiError{Status: http.StatusNotFound, Message: "No such version."}
	}
	d := playgroundData{}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/prompts/"+url.PathEscape(id), nil, nil, &d.Prompt); err != nil {
		return err
	}
	i := slices.IndexFunc(d.Prompt.Versions, func(v prompt.Version) bool { return v.Number == n })
	if i < 0 {
		return &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf("Prompt %s has no version %d.", d.Prompt.Name, n)}
	}
	d.Version = d.Prompt.Versions[i]
	p.Title = fmt.Sprintf("Playground: %s version %d", d.Prompt.Name, n)
	d.Fields = schemaFields(d.Version.Variables)
	d.RunPath = "/prompts/" + url.PathEscape(d.Prompt.Name) + "@" + strconv.Itoa(n)
	if r.Method == http.MethodPost {
		for i := range d.Fields {
			d.Fields[i].Value = r.PostForm.Get("v-" + d.Fields[i].Name)
		}
		vars, err := fieldValues(d.Fields)
		if err != nil {
			p.Err = err.Error()
		} else {
			var out admin.RenderAnswer
			err := c.api(r, u, http.MethodPost, "/admin/v1/prompts/"+url.PathEscape(id)+"/render", nil,
				admin.RenderInput{Version: n, Variables: vars}, &out)
			switch {
			case err == nil:
				d.Rendered = &out
			case statusOf(err) == http.StatusBadRequest:
				p.Err = err.Error()
			default:
				return err
			}
		}
	}
	p.Data = d
	return nil
}

// schemaFields lists the top-level properties of a variables schema, in
// name order, with their type, whether they are required and their enum.
func schemaFields(raw json.RawMessage) []varField {
	var s struct {
		Required   []string `json:"required"`
		Properties map[string]struct {
			Type        any    `json:"type"`
			Enum        []any  `json:"enum"`
			Description string `json:"description"`
		} `json:"properties"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return nil
	}
	var out []varField
	for name, prop := range s.Properties {
		f := varField{Name: name, Type: "string", Description: prop.Description, Required: slices.Contains(s.Required, name)}
		switch t := prop.Type.(type) {
		case string:
			f.Type = t
		case []any: // ["string", "null"]: the first that is not null
			for _, x := range t {
				if ts, ok := x.(string); ok && ts != "null" {
					f.Type = ts
					break
				}
			}
		}
		for _, e := range prop.Enum {
			b, _ := json.Marshal(e)
			if es, ok := e.(string); ok {
				f.Enum = append(f.Enum, es)
			} else {
				f.Enum = append(f.Enum, string(b))
			}
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b varField) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// fieldValues builds the variables object from the form: a string as it
// was typed, a number or boolean parsed, an array or object as JSON; an
// empty field is left out (the API names a required one that is missing).
// static/playground.js does the same in the browser.
func fieldValues(fs []varField) (json.RawMessage, error) {
	vars := map[string]json.RawMessage{}
	for _, f := range fs {
		if f.Value == "" {
			continue
		}
		switch f.Type {
		case "string":
			b, _ := json.Marshal(f.Value)
			vars[f.Name] = b
		default:
			v := strings.TrimSpace(f.Value)
			if !json.Valid([]byte(v)) {
				return nil, fmt.Errorf("Variable %s: %q is not a valid %s (write it as JSON).", f.Name, v, f.Type)
			}
			vars[f.Name] = json.RawMessage(v)
		}
	}
	return json.Marshal(vars)
}

// usageAnswer is a playground run's ledger entry, for the page's script.
type usageAnswer struct {
	Found        bool   `json:"found"`
	Status       string `json:"status,omitempty"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
	CostMicros   int64  `json:"cost_micros"`
	Cost         string `json:"cost,omitempty"`
	Cache        string `json:"cache,omitempty"`
}

// playgroundUsage finds a request's ledger entry among the newest the
// user may read (the ledger writes a moment after the answer: it waits up
// to three seconds). It answers JSON.
func (c *Console) playgroundUsage(w http.ResponseWriter, r *http.Request) {
	writeJSON := func(status int, v any) {
		b, _ := json.Marshal(v)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_, _ = w.Write(b)
	}
	u, err := c.signedIn(r)
	if err != nil || u == nil {
		writeJSON(http.StatusUnauthorized, map[string]string{"error": "Sign in again."})
		return
	}
	id := r.URL.Query().Get("request_id")
	if id == "" || len(id) > 128 {
		writeJSON(http.StatusBadRequest, map[string]string{"error": "request_id is required."})
		return
	}
	q := url.Values{"limit": {"200"}}
	if org := r.URL.Query().Get("org"); org != "" {
		q.Set("org_id", org)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		var l struct {
			Data []struct {
				RequestID    string `json:"request_id"`
				Status       string `json:"status"`
				InputTokens  int64  `json:"input_tokens"`
				OutputTokens int64  `json:"output_tokens"`
				CostMicros   int64  `json:"cost_micros"`
				Cache        string `json:"cache"`
			} `json:"data"`
		}
		if err := c.api(r, u, http.MethodGet, "/admin/v1/requests", q, nil, &l); err != nil {
			status := statusOf(err)
			if status == 0 || status >= 500 {
				c.opts.Logger.Error("playground usage", "err", err)
				status = http.StatusInternalServerError
			}
			writeJSON(status, map[string]string{"error": err.Error()})
			return
		}
		for _, e := range l.Data {
			if e.RequestID == id {
				writeJSON(http.StatusOK, usageAnswer{Found: true, Status: e.Status, InputTokens: e.InputTokens,
					OutputTokens: e.OutputTokens, CostMicros: e.CostMicros, Cost: microsUSD(e.CostMicros), Cache: e.Cache})
				return
			}
		}
		if time.Now().After(deadline) || r.Context().Err() != nil {
			writeJSON(http.StatusOK, usageAnswer{})
			return
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// microsUSD writes micro-dollars as dollars to the micro-dollar: a
// playground run often costs less than a hundredth of a cent.
func microsUSD(m int64) string { return "$" + strconv.FormatFloat(float64(m)/1e6, 'f', 6, 64) }
