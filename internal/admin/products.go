package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/jsonlimit"
	"github.com/sluicehq/sluice/internal/openapi"
	"github.com/sluicehq/sluice/internal/product"
	"github.com/sluicehq/sluice/internal/store"
)

// API products and subscriptions. Who may do what:
//   - a product lives in its owning team; reading it needs products.read
//     there (private), anywhere in its organisation (internal) or anywhere
//     at all (public); creating and changing it, its versions and plans
//     (publish, deprecate, rollback, retire, emergency stop) need
//     products.write in the owning team;
//   - a subscription lives in the subscribing application's team: a
//     developer there requests it (subscriptions.write), and may cancel it;
//     it is read with subscriptions.read there or in the product's team;
//     approving, rejecting, suspending and resuming need
//     subscriptions.approve in the product's team;
//   - stopping a model is a platform action (gateway.write).
// Products declared in the configuration file are read-only here, but
// their subscriptions are not. Every change writes an audit row in its
// transaction and bumps the generation, so every node recompiles within
// a second.

func productScope(p store.ProductRecord) authz.Scope {
	return authz.Scope{OrgID: p.OrgID, TeamID: p.TeamID}
}

func subScope(s store.SubscriptionRecord) authz.Scope {
	return authz.Scope{OrgID: s.OrgID, TeamID: s.TeamID}
}

// productVisible decides whether the principal may read p, by its visibility.
func (a *API) productVisible(r *http.Request, p store.ProductRecord) bool {
	st := state(r)
	st.decided = true
	pol := a.opts.Snapshots.Load().Policy
	switch p.Visibility {
	case product.Public:
		return pol.AllowedWithin(st.pr, authz.ProductsRead, authz.Scope{})
	case product.Internal:
		return pol.AllowedWithin(st.pr, authz.ProductsRead, authz.Scope{OrgID: p.OrgID})
	}
	return pol.Allowed(st.pr, authz.ProductsRead, productScope(p))
}

// loadProduct reads a product by id or name and decides reading it (404
// otherwise) and, when given, write in its team (403).
func (a *API) loadProduct(r *http.Request, idOrName string, write authz.Action) (store.ProductRecord, error) {
	p, err := a.opts.Store.GetProduct(r.Context(), idOrName)
	if err != nil {
		return p, a.missing(r, err)
	}
	if !a.productVisible(r, p) {
		return p, errNotFound
	}
	if write != "" {
		return p, a.authorize(r, "", write, productScope(p))
	}
	return p, nil
}

// PlanBody is a plan in an API body.
type PlanBody struct {
	Name            string   `json:"name"`
	RPM             int64    `json:"rpm,omitempty"`
	TPM             int64    `json:"tpm,omitempty"`
	MaxConcurrent   int64    `json:"max_concurrent,omitempty"`
	BudgetUSD       float64  `json:"budget_usd,omitempty" doc:"Spend cap per budget_period, per subscription."`
	BudgetPeriod    string   `json:"budget_period,omitempty" enum:"daily,weekly,monthly,total"`
	Quota           int64    `json:"quota,omitempty" doc:"Requests per quota_period."`
	QuotaPeriod     string   `json:"quota_period,omitempty" enum:"daily,weekly,monthly,total"`
	Versions        []string `json:"versions,omitempty" doc:"Versions the plan allows (default all)."`
	Approval        string   `json:"approval,omitempty" enum:"auto,manual" doc:"Default manual."`
	DurationSeconds int64    `json:"duration_seconds,omitempty" doc:"A subscription's length from its approval (0: no end)."`
}

func (b PlanBody) plan() (product.Plan, error) {
	p := product.Plan{Name: b.Name, RPM: b.RPM, TPM: b.TPM, MaxConcurrent: b.MaxConcurrent, Quota: b.Quota, QuotaPeriod: b.QuotaPeriod,
		Versions: b.Versions, Approval: product.Approval(b.Approval), Duration: time.Duration(b.DurationSeconds) * time.Second}
	if p.Approval == "" {
		p.Approval = product.Manual
	}
	if b.BudgetUSD < 0 || b.BudgetUSD > 1e9 || b.BudgetUSD != b.BudgetUSD || b.DurationSeconds < 0 || b.DurationSeconds > 100*365*86400 {
		return p, &httpError{http.StatusBadRequest, "invalid_plan", "budget_usd and duration_seconds must be positive amounts."}
	}
	p.BudgetMicros, p.BudgetPeriod = int64(math.Round(b.BudgetUSD*1e6)), b.BudgetPeriod
	if p.BudgetMicros > 0 && p.BudgetPeriod == "" {
		p.BudgetPeriod = "monthly"
	}
	if p.Quota > 0 && p.QuotaPeriod == "" {
		p.QuotaPeriod = "monthly"
	}
	if err := p.Validate(); err != nil {
		return p, &httpError{http.StatusBadRequest, "invalid_plan", err.Error() + "."}
	}
	return p, nil
}

func planBody(p product.Plan) PlanBody {
	return PlanBody{Name: p.Name, RPM: p.RPM, TPM: p.TPM, MaxConcurrent: p.MaxConcurrent, BudgetUSD: float64(p.BudgetMicros) / 1e6,
		BudgetPeriod: p.BudgetPeriod, Quota: p.Quota, QuotaPeriod: p.QuotaPeriod, Versions: p.Versions, Approval: string(p.Approval),
		DurationSeconds: int64(p.Duration / time.Second)}
}

// VersionView is a product version as the API shows it.
type VersionView struct {
	product.Version
	BaseURL   string `json:"base_url" doc:"The path under which the version is served."`
	Suspended string `json:"suspended,omitempty" doc:"The emergency stop's reason, when stopped."`
	Source    string `json:"source" enum:"api,config"`
	ReadOnly  bool   `json:"read_only"`
	// PublishRequestedBy is who asked to publish a draft that needs a second person.
	PublishRequestedBy string    `json:"publish_requested_by,omitempty"`
	UpdatedAt          time.Time `json:"updated_at"`
	Rev                int64     `json:"rev"`
}

// ProductView is a product as the API shows it, with its versions and plans.
type ProductView struct {
	ID              string        `json:"id"`
	Object          string        `json:"object" enum:"product"`
	Name            string        `json:"name"`
	Title           string        `json:"title,omitempty"`
	Description     string        `json:"description,omitempty"`
	Tags            []string      `json:"tags,omitempty"`
	Visibility      string        `json:"visibility" enum:"private,internal,public"`
	OrgID           string        `json:"org_id"`
	TeamID          string        `json:"team_id"`
	PublishApproval bool          `json:"publish_approval"`
	Source          string        `json:"source" enum:"api,config"`
	ReadOnly        bool          `json:"read_only"`
	Versions        []VersionView `json:"versions"`
	Plans           []PlanBody    `json:"plans"`
	CreatedAt       time.Time     `json:"created_at"`
	UpdatedAt       time.Time     `json:"updated_at"`
	Rev             int64         `json:"rev"`
}

func (a *API) productView(r *http.Request, p store.ProductRecord) (ProductView, error) {
	vs, err := a.opts.Store.ListVersions(r.Context(), p.ID)
	if err != nil {
		return ProductView{}, err
	}
	pls, err := a.opts.Store.ListPlans(r.Context(), p.ID)
	if err != nil {
		return ProductView{}, err
	}
	return a.productViewOf(p, vs, pls), nil
}

// productViewOf is productView with the product's versions and plans
// already read (a list reads a page's at once).
func (a *API) productViewOf(p store.ProductRecord, vs []store.VersionRecord, pls []store.PlanRecord) ProductView {
	v := ProductView{ID: p.ID, Object: "product", Name: p.Name, Title: p.Title, Description: p.Description, Tags: p.Tags,
		Visibility: string(p.Visibility), OrgID: p.OrgID, TeamID: p.TeamID, PublishApproval: p.PublishApproval, Source: p.Source,
		ReadOnly: p.Source == "config", Versions: []VersionView{}, Plans: []PlanBody{}, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, Rev: p.Rev}
	stops := a.opts.Snapshots.Load().Products
	for _, ver := range vs {
		v.Versions = append(v.Versions, VersionView{Version: ver.Version, BaseURL: product.BasePath(p.Name, ver.Version.Version) + "/v1",
			Suspended: stops.StopReason(p.Name, ver.Version.Version, ""), Source: ver.Source, ReadOnly: ver.Source == "config",
			PublishRequestedBy: ver.RequestedBy, UpdatedAt: ver.UpdatedAt, Rev: ver.Rev})
	}
	for _, pl := range pls {
		v.Plans = append(v.Plans, planBody(pl.Plan))
	}
	return v
}

// ProductInput creates or changes a product; on a change absent fields stay.
type ProductInput struct {
	Name            string   `json:"name,omitempty" doc:"Create only: it is part of the product's URLs."`
	TeamID          string   `json:"team_id,omitempty" doc:"Create only: the owning team."`
	Title           *string  `json:"title,omitempty"`
	Description     *string  `json:"description,omitempty" doc:"Markdown."`
	Tags            []string `json:"tags,omitempty"`
	Visibility      string   `json:"visibility,omitempty" enum:"private,internal,public" doc:"Default internal."`
	PublishApproval *bool    `json:"publish_approval,omitempty" doc:"Publishing a version needs a second person."`
}

func (in ProductInput) apply(p *product.Product) error {
	if in.Title != nil {
		p.Title = *in.Title
	}
	if in.Description != nil {
		p.Description = *in.Description
	}
	if in.Tags != nil {
		p.Tags = in.Tags
	}
	if in.PublishApproval != nil {
		p.PublishApproval = *in.PublishApproval
	}
	switch product.Visibility(in.Visibility) {
	case "":
	case product.Private, product.Internal, product.Public:
		p.Visibility = product.Visibility(in.Visibility)
	default:
		return &httpError{http.StatusBadRequest, "invalid_visibility", "visibility must be private, internal or public."}
	}
	if len(p.Title) > 200 || len(p.Description) > 32<<10 || len(p.Tags) > 32 {
		return &httpError{http.StatusBadRequest, "invalid_body", "title (200), description (32 KiB) or tags (32) too long."}
	}
	return nil
}

// listProducts pages the products the principal may see, by name: limit
// (1-1000, default 100) rows after cursor, next_cursor when more follow.
func (a *API) listProducts(w http.ResponseWriter, r *http.Request) error {
	if err := a.authorizeList(r, authz.Scope{}); err != nil {
		return err
	}
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	after, err := parseNameCursor(r.URL.Query().Get("cursor"), productCursorTag)
	if err != nil {
		return err
	}
	var shown []store.ProductRecord
	next := ""
	// Rows are read in batches and filtered by visibility until the page
	// and one more row are found, or the table ends.
	for batch := limit + 1; ; {
		ps, err := a.opts.Store.ListProductsAfter(r.Context(), after, batch)
		if err != nil {
			return err
		}
		for _, p := range ps {
			after = p.Name
			if !a.productVisible(r, p) {
				continue
			}
			if len(shown) == limit {
				next = encodeCursor(productCursorTag, shown[limit-1].Name)
				break
			}
			shown = append(shown, p)
		}
		if next != "" || len(ps) < batch {
			break
		}
	}
	// The page's versions and plans in two queries, not two a product.
	ids := make([]string, len(shown))
	for i, p := range shown {
		ids[i] = p.ID
	}
	versions, plans, err := a.opts.Store.ProductChildren(r.Context(), ids)
	if err != nil {
		return err
	}
	out := make([]ProductView, 0, len(shown))
	for _, p := range shown {
		out = append(out, a.productViewOf(p, versions[p.ID], plans[p.ID]))
	}
	return writeJSON(w, http.StatusOK, page[ProductView]{Object: "list", Data: out, NextCursor: next})
}

func (a *API) getProduct(w http.ResponseWriter, r *http.Request) error {
	p, err := a.loadProduct(r, r.PathValue("id"), "")
	if err != nil {
		return err
	}
	v, err := a.productView(r, p)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(p.Rev))
	return writeJSON(w, http.StatusOK, v)
}

func (a *API) createProduct(w http.ResponseWriter, r *http.Request) error {
	var in ProductInput
	if err := decodeBody(w, r, &in); err != nil {
		state(r).decided = true
		return err
	}
	team, err := a.loadUnit(r, teamKind, in.TeamID, "")
	if err != nil {
		return fieldNotFound(err, "team_id")
	}
	now := time.Now().UTC()
	p := store.ProductRecord{Product: product.Product{Name: in.Name, Visibility: product.Internal}, ID: newID(store.PrefixProduct),
		OrgID: team.OrgID, TeamID: team.ID, Source: "api", CreatedAt: now, UpdatedAt: now, Rev: 1}
	if err := a.authorize(r, "", authz.ProductsWrite, productScope(p)); err != nil {
		return err
	}
	if !product.ValidName(in.Name) {
		return &httpError{http.StatusBadRequest, "invalid_name", "name must be 1-64 characters of letters, digits, '-', '_' or '.'."}
	}
	if err := in.apply(&p.Product); err != nil {
		return err
	}
	v, _ := a.productView(r, p)
	entry := a.auditFor(w, r, "product.create", "product", p.ID, p.OrgID, nil, v)
	if err := a.opts.Store.CreateProduct(r.Context(), p, entry); err != nil {
		return storeError(err, "product")
	}
	return a.refreshAndWrite(w, r, http.StatusCreated, 1, v)
}

func (a *API) updateProduct(w http.ResponseWriter, r *http.Request) error {
	want, err := ifMatch(r)
	if err != nil {
		state(r).decided = true
		return err
	}
	old, err := a.loadProduct(r, r.PathValue("id"), authz.ProductsWrite)
	if err != nil {
		return err
	}
	var in ProductInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if want != 0 && want != old.Rev {
		return versionMismatch(old.Rev)
	}
	if old.Source == "config" {
		return readOnlyProduct()
	}
	if in.Name != "" || in.TeamID != "" {
		return &httpError{http.StatusBadRequest, "invalid_body", "A product's name and team do not change."}
	}
	p := old
	if err := in.apply(&p.Product); err != nil {
		return err
	}
	p.UpdatedAt, p.Rev = time.Now().UTC(), old.Rev+1
	before, _ := a.productView(r, old)
	after, err := a.productView(r, p)
	if err != nil {
		return err
	}
	entry := a.auditFor(w, r, "product.update", "product", p.ID, p.OrgID, before, after)
	if err := a.opts.Store.UpdateProduct(r.Context(), p, old.Rev, entry); err != nil {
		return storeError(err, "product")
	}
	return a.refreshAndWrite(w, r, http.StatusOK, p.Rev, after)
}

func (a *API) deleteProduct(w http.ResponseWriter, r *http.Request) error {
	want, err := ifMatch(r)
	if err != nil {
		state(r).decided = true
		return err
	}
	old, err := a.loadProduct(r, r.PathValue("id"), authz.ProductsWrite)
	if err != nil {
		return err
	}
	if want != 0 && want != old.Rev {
		return versionMismatch(old.Rev)
	}
	if old.Source == "config" {
		return readOnlyProduct()
	}
	before, _ := a.productView(r, old)
	entry := a.auditFor(w, r, "product.delete", "product", old.ID, old.OrgID, before, nil)
	if err := a.opts.Store.DeleteProduct(r.Context(), old.ID, old.Rev, entry); err != nil {
		if errors.Is(err, store.ErrHasChildren) {
			return &httpError{http.StatusConflict, "has_subscriptions", "The product still has open subscriptions; cancel them first."}
		}
		return storeError(err, "product")
	}
	if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, Deleted{Deleted: old.ID})
}

// refreshAndWrite recompiles the keys' view after a write, then answers
// with the record's rev as ETag and body as JSON.
func (a *API) refreshAndWrite(w http.ResponseWriter, r *http.Request, status int, rev int64, body any) error {
	if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
		return err
	}
	w.Header().Set("ETag", etag(rev))
	return writeJSON(w, status, body)
}

func readOnlyProduct() error {
	return &httpError{http.StatusConflict, "read_only", "This product is declared in the configuration file; change it there."}
}

// VersionInput creates or edits a draft version.
type VersionInput struct {
	Version      string            `json:"version,omitempty" doc:"Create only."`
	Models       map[string]string `json:"models,omitempty" doc:"Client model name -> Sluice model."`
	Prompts      []string          `json:"prompts,omitempty"`
	Endpoints    []string          `json:"endpoints,omitempty" doc:"chat, responses, messages, gemini (default all)."`
	Docs         *string           `json:"docs,omitempty" doc:"Markdown or a URL."`
	DeprecatedAt *time.Time        `json:"deprecated_at,omitempty"`
	SunsetAt     *time.Time        `json:"sunset_at,omitempty"`
	Successor    *string           `json:"successor,omitempty"`
}

func (a *API) checkVersion(v *product.Version) error {
	snap := a.opts.Snapshots.Load()
	if len(v.Models) == 0 || len(v.Models) > 256 {
		return &httpError{http.StatusBadRequest, "invalid_version", "A version exposes 1 to 256 models."}
	}
	for client, m := range v.Models {
		if client == "" || len(client) > 256 || strings.ContainsAny(client, "/\r\n\x00") {
			return &httpError{http.StatusBadRequest, "invalid_version", "Client model names are 1-256 characters without '/'."}
		}
		if snap.Models[m] == nil {
			return &httpError{http.StatusBadRequest, "unknown_model", fmt.Sprintf("No model named %q.", m)}
		}
	}
	for _, e := range v.Endpoints {
		if !product.ValidEndpoint(e) {
			return &httpError{http.StatusBadRequest, "invalid_version", "endpoints must be chat, responses, messages or gemini."}
		}
	}
	if err := v.ValidateDates(); err != nil {
		return &httpError{http.StatusBadRequest, "invalid_dates", err.Error() + "."}
	}
	return nil
}

func (a *API) createVersion(w http.ResponseWriter, r *http.Request) error {
	p, err := a.loadProduct(r, r.PathValue("id"), authz.ProductsWrite)
	if err != nil {
		return err
	}
	var in VersionInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if p.Source == "config" {
		return readOnlyProduct()
	}
	if !product.ValidName(in.Version) {
		return &httpError{http.StatusBadRequest, "invalid_name", "version must be 1-64 characters of letters, digits, '-', '_' or '.'."}
	}
	now := time.Now().UTC()
	v := store.VersionRecord{Version: product.Version{Version: in.Version, State: product.Draft, Models: in.Models, Prompts: in.Prompts,
		Endpoints: in.Endpoints, DeprecatedAt: in.DeprecatedAt, SunsetAt: in.SunsetAt}, ID: newID(store.PrefixVersion), ProductID: p.ID,
		Source: "api", CreatedAt: now, UpdatedAt: now, Rev: 1}
	if in.Docs != nil {
		v.Docs = *in.Docs
	}
	if in.Successor != nil {
		v.Successor = *in.Successor
	}
	if err := a.checkVersion(&v.Version); err != nil {
		return err
	}
	entry := a.auditFor(w, r, "product_version.create", "product_version", v.ID, p.OrgID, nil, v)
	if err := a.opts.Store.PutVersion(r.Context(), v, 0, entry); err != nil {
		return storeError(err, "version")
	}
	return a.refreshAndWrite(w, r, http.StatusCreated, 1, v)
}

// loadVersion reads a product (deciding write) and one of its versions.
func (a *API) loadVersion(r *http.Request) (store.ProductRecord, store.VersionRecord, error) {
	return loadChild(a, r, "version", a.opts.Store.GetVersion)
}

// loadChild reads a product (deciding write) and the child (version or
// plan) named by the path value param, got by get.
func loadChild[T any](a *API, r *http.Request, param string, get func(context.Context, string, string) (T, error)) (store.ProductRecord, T, error) {
	p, err := a.loadProduct(r, r.PathValue("id"), authz.ProductsWrite)
	if err != nil {
		var zero T
		return p, zero, err
	}
	c, err := get(r.Context(), p.ID, r.PathValue(param))
	if err != nil {
		return p, c, a.missing(r, err)
	}
	return p, c, nil
}

func (a *API) updateVersion(w http.ResponseWriter, r *http.Request) error {
	want, err := ifMatch(r)
	if err != nil {
		state(r).decided = true
		return err
	}
	p, old, err := a.loadVersion(r)
	if err != nil {
		return err
	}
	var in VersionInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if want != 0 && want != old.Rev {
		return versionMismatch(old.Rev)
	}
	if old.Source == "config" {
		return readOnlyProduct()
	}
	if old.State != product.Draft {
		return &httpError{http.StatusConflict, "not_draft", "A published version does not change; create a new version (or deprecate this one)."}
	}
	if in.Version != "" && in.Version != old.Version.Version {
		return &httpError{http.StatusBadRequest, "invalid_body", "A version's name does not change."}
	}
	v := old
	if in.Models != nil {
		v.Models = in.Models
	}
	if in.Prompts != nil {
		v.Prompts = in.Prompts
	}
	if in.Endpoints != nil {
		v.Endpoints = in.Endpoints
	}
	if in.Docs != nil {
		v.Docs = *in.Docs
	}
	if in.DeprecatedAt != nil {
		v.DeprecatedAt = in.DeprecatedAt
	}
	if in.SunsetAt != nil {
		v.SunsetAt = in.SunsetAt
	}
	if in.Successor != nil {
		v.Successor = *in.Successor
	}
	if err := a.checkVersion(&v.Version); err != nil {
		return err
	}
	return a.saveVersion(w, r, p, old, v, "product_version.update", http.StatusOK)
}

func (a *API) saveVersion(w http.ResponseWriter, r *http.Request, p store.ProductRecord, old, v store.VersionRecord, action string, status int) error {
	v.UpdatedAt, v.Rev = time.Now().UTC(), old.Rev+1
	entry := a.auditFor(w, r, action, "product_version", v.ID, p.OrgID, old, v)
	if err := a.opts.Store.PutVersion(r.Context(), v, old.Rev, entry); err != nil {
		return storeError(err, "version")
	}
	return a.refreshAndWrite(w, r, status, v.Rev, v)
}

// VersionAction is the optional body of a version's lifecycle action.
type VersionAction struct {
	DeprecatedAt *time.Time `json:"deprecated_at,omitempty" doc:"deprecate: default now."`
	SunsetAt     *time.Time `json:"sunset_at,omitempty" doc:"deprecate: when it stops answering (410 after)."`
	Successor    string     `json:"successor,omitempty" doc:"deprecate: the version that replaces it."`
	Reason       string     `json:"reason,omitempty" doc:"suspend: said in every refusal (503)."`
}

// versionAction runs a lifecycle action on a version: publish, deprecate,
// rollback, retire (the state machine's events), suspend and resume (the
// emergency stop, apart from the state).
func (a *API) versionAction(ev string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, old, err := a.loadVersion(r)
		if err != nil {
			return err
		}
		var in VersionAction
		if err := decodeOptional(w, r, &in); err != nil {
			return err
		}
		name := p.Name + "/" + old.Version.Version
		switch ev {
		case "suspend", "resume":
			return a.stop(w, r, "version", name, p.OrgID, ev == "suspend", in.Reason)
		}
		if old.Source == "config" {
			return readOnlyProduct()
		}
		to, err := product.NextVersionState(old.State, product.VersionEvent(ev))
		if err != nil {
			return &httpError{http.StatusConflict, "invalid_transition", err.Error() + "."}
		}
		v := old
		v.State = to
		switch product.VersionEvent(ev) {
		case product.Publish:
			if p.PublishApproval {
				actor := principal(r).Name()
				if old.RequestedBy == "" || old.RequestedBy == actor {
					v.State, v.RequestedBy = product.Draft, actor
					return a.saveVersion(w, r, p, old, v, "product_version.publish_requested", http.StatusAccepted)
				}
			}
			if err := a.checkVersion(&v.Version); err != nil {
				return err
			}
		case product.Deprecate:
			now := time.Now().UTC()
			v.DeprecatedAt = &now
			if in.DeprecatedAt != nil {
				v.DeprecatedAt = in.DeprecatedAt
			}
			if in.SunsetAt != nil {
				v.SunsetAt = in.SunsetAt
			}
			if in.Successor != "" {
				if _, err := a.opts.Store.GetVersion(r.Context(), p.ID, in.Successor); err != nil {
					return &httpError{http.StatusBadRequest, "unknown_successor", fmt.Sprintf("No version %q of this product.", in.Successor)}
				}
				v.Successor = in.Successor
			}
			if err := v.ValidateDates(); err != nil {
				return &httpError{http.StatusBadRequest, "invalid_dates", err.Error() + "."}
			}
		case product.Rollback:
			v.DeprecatedAt, v.SunsetAt = nil, nil
		}
		return a.saveVersion(w, r, p, old, v, "product_version."+ev, http.StatusOK)
	}
}

// StopInput is an emergency stop of a model.
type StopInput struct {
	Model  string `json:"model"`
	Reason string `json:"reason,omitempty" doc:"Said in every refusal (503)."`
}

// stop sets or lifts an emergency stop.
func (a *API) stop(w http.ResponseWriter, r *http.Request, kind, name, tenant string, on bool, reason string) error {
	if len(reason) > 500 {
		return &httpError{http.StatusBadRequest, "invalid_body", "reason: at most 500 characters."}
	}
	now := time.Now().UTC()
	st := store.Stop{Kind: kind, Name: name, Reason: reason, Actor: principal(r).Name(), CreatedAt: now}
	var err error
	if on {
		err = a.opts.Store.SetStop(r.Context(), st, a.auditFor(w, r, kind+".suspend", kind, name, tenant, nil, st))
	} else {
		err = a.opts.Store.ClearStop(r.Context(), kind, name, a.auditFor(w, r, kind+".resume", kind, name, tenant, st, nil))
		if errors.Is(err, store.ErrNotFound) {
			return &httpError{http.StatusConflict, "not_suspended", "It is not suspended."}
		}
	}
	if err != nil {
		return err
	}
	if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"kind": kind, "name": name, "suspended": on, "reason": reason})
}

func (a *API) stopModel(on bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in StopInput
		if err := decodeBody(w, r, &in); err != nil {
			return err
		}
		if a.opts.Snapshots.Load().Models[in.Model] == nil {
			return &httpError{http.StatusNotFound, "unknown_model", fmt.Sprintf("No model named %q.", in.Model)}
		}
		return a.stop(w, r, "model", in.Model, "", on, in.Reason)
	}
}

func (a *API) listStops(w http.ResponseWriter, r *http.Request) error {
	stops, err := a.opts.Store.ListStops(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[store.Stop]{Object: "list", Data: stops})
}

func (a *API) createPlan(w http.ResponseWriter, r *http.Request) error {
	p, err := a.loadProduct(r, r.PathValue("id"), authz.ProductsWrite)
	if err != nil {
		return err
	}
	var in PlanBody
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if p.Source == "config" {
		return readOnlyProduct()
	}
	pl, err := in.plan()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	rec := store.PlanRecord{Plan: pl, ID: newID(store.PrefixPlan), ProductID: p.ID, Source: "api", CreatedAt: now, UpdatedAt: now, Rev: 1}
	entry := a.auditFor(w, r, "plan.create", "plan", rec.ID, p.OrgID, nil, rec)
	if err := a.opts.Store.PutPlan(r.Context(), rec, 0, entry); err != nil {
		return storeError(err, "plan")
	}
	return a.refreshAndWrite(w, r, http.StatusCreated, 1, planBody(pl))
}

func (a *API) loadPlan(r *http.Request) (store.ProductRecord, store.PlanRecord, error) {
	return loadChild(a, r, "plan", a.opts.Store.GetPlan)
}

func (a *API) updatePlan(w http.ResponseWriter, r *http.Request) error {
	want, err := ifMatch(r)
	if err != nil {
		state(r).decided = true
		return err
	}
	p, old, err := a.loadPlan(r)
	if err != nil {
		return err
	}
	var in PlanBody
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if want != 0 && want != old.Rev {
		return versionMismatch(old.Rev)
	}
	if old.Source == "config" {
		return readOnlyProduct()
	}
	if in.Name == "" {
		in.Name = old.Name
	}
	if in.Name != old.Name {
		return &httpError{http.StatusBadRequest, "invalid_body", "A plan's name does not change."}
	}
	pl, err := in.plan()
	if err != nil {
		return err
	}
	rec := old
	rec.Plan, rec.UpdatedAt, rec.Rev = pl, time.Now().UTC(), old.Rev+1
	entry := a.auditFor(w, r, "plan.update", "plan", rec.ID, p.OrgID, old, rec)
	if err := a.opts.Store.PutPlan(r.Context(), rec, old.Rev, entry); err != nil {
		return storeError(err, "plan")
	}
	// A plan change takes effect on every node within a second: the
	// generation moved; no key changes.
	return a.refreshAndWrite(w, r, http.StatusOK, rec.Rev, planBody(pl))
}

func (a *API) deletePlan(w http.ResponseWriter, r *http.Request) error {
	p, old, err := a.loadPlan(r)
	if err != nil {
		return err
	}
	if old.Source == "config" {
		return readOnlyProduct()
	}
	entry := a.auditFor(w, r, "plan.delete", "plan", old.ID, p.OrgID, old, nil)
	if err := a.opts.Store.DeletePlan(r.Context(), old, p.Name, entry); err != nil {
		if errors.Is(err, store.ErrHasChildren) {
			return &httpError{http.StatusConflict, "has_subscriptions", "The plan still has open subscriptions."}
		}
		return storeError(err, "plan")
	}
	if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, Deleted{Deleted: old.ID})
}

// SubscriptionCreate requests a subscription.
type SubscriptionCreate struct {
	Application string `json:"application" doc:"The application: org/team/app or its id."`
	Product     string `json:"product" doc:"The product's name or id."`
	Plan        string `json:"plan"`
	Reason      string `json:"reason,omitempty" doc:"What it is for; the approvers read it."`
}

// SubscriptionNote is the optional body of a subscription's state change.
type SubscriptionNote struct {
	Note string `json:"note,omitempty" doc:"Recorded with the change and in the audit log."`
}

// loadSub reads a subscription and decides reading it: subscriptions.read
// in the application's team or in the product's.
func (a *API) loadSub(r *http.Request) (store.SubscriptionRecord, store.ProductRecord, error) {
	s, err := a.opts.Store.GetSubscription(r.Context(), r.PathValue("id"))
	if err != nil {
		return s, store.ProductRecord{}, a.missing(r, err)
	}
	p, err := a.opts.Store.GetProduct(r.Context(), s.Product)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return s, p, err
	}
	if !a.allowed(r, authz.SubscriptionsRead, subScope(s)) && (p.ID == "" || !a.allowed(r, authz.SubscriptionsRead, productScope(p))) {
		return s, p, errNotFound
	}
	return s, p, nil
}

// SubscriptionView is a subscription as the API shows it: with its
// application's path as well as its id.
type SubscriptionView struct {
	store.SubscriptionRecord
	ApplicationPath string `json:"application_path,omitempty" doc:"org/team/app of the application."`
	// Quota is set on a single subscription's read, and on list rows with usage=true.
	Quota *SubscriptionQuota `json:"quota,omitempty" doc:"An active subscription's standing against its plan's request quota."`
}

func (a *API) subView(s store.SubscriptionRecord) SubscriptionView {
	v := SubscriptionView{SubscriptionRecord: s}
	if u := a.opts.Snapshots.Load().Unit(s.Application); u != nil {
		v.ApplicationPath = u.Path
	}
	return v
}

// listSubscriptions pages the subscriptions the principal may read (its
// applications' and its products'), oldest first: limit (1-1000, default
// 100) rows after cursor, next_cursor when more follow.
func (a *API) listSubscriptions(w http.ResponseWriter, r *http.Request) error {
	s, err := a.listScope(r)
	if err != nil {
		return err
	}
	if err := a.authorizeList(r, s); err != nil {
		return err
	}
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.SubscriptionFilter{OrgID: q.Get("org_id"), TeamID: q.Get("team_id"), AppID: q.Get("app_id"), Product: q.Get("product"),
		State: q.Get("state"), Limit: limit + 1}
	if f.After, err = parseSubCursor(q.Get("cursor")); err != nil {
		return err
	}
	owners := map[string]authz.Scope{}
	out := []SubscriptionView{}
	next := ""
	for {
		subs, err := a.opts.Store.ListSubscriptions(r.Context(), f)
		if err != nil {
			return err
		}
		for _, sub := range subs {
			f.After = &store.SubscriptionCursor{CreatedAt: sub.CreatedAt.UnixMicro(), ID: sub.ID}
			ps, ok := owners[sub.Product]
			if !ok {
				if p, err := a.opts.Store.GetProduct(r.Context(), sub.Product); err == nil {
					ps = productScope(p)
				}
				owners[sub.Product] = ps
			}
			if !a.allowed(r, authz.SubscriptionsRead, subScope(sub)) && (ps.OrgID == "" || !a.allowed(r, authz.SubscriptionsRead, ps)) {
				continue
			}
			if len(out) == limit {
				last := out[limit-1]
				next = subCursor(store.SubscriptionCursor{CreatedAt: last.CreatedAt.UnixMicro(), ID: last.ID})
				break
			}
			out = append(out, a.subView(sub))
		}
		if next != "" || len(subs) < f.Limit {
			break
		}
	}
	if q.Get("usage") == "true" {
		if err := a.withQuotas(r.Context(), out); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, page[SubscriptionView]{Object: "list", Data: out, NextCursor: next})
}

func (a *API) getSubscription(w http.ResponseWriter, r *http.Request) error {
	s, _, err := a.loadSub(r)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(s.Rev))
	v := []SubscriptionView{a.subView(s)}
	if err := a.withQuotas(r.Context(), v); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v[0])
}

// SubscriptionPatch changes a subscription's plan.
type SubscriptionPatch struct {
	Plan string `json:"plan" doc:"A plan of the subscription's product; its limits apply on every node within a second, with the same keys."`
}

// updateSubscription moves a subscription to another plan of its product:
// who may approve it may (subscriptions.approve in the product's team).
// The new plan's limits and quota apply at every node's next refresh; the
// application's keys stay as they are.
func (a *API) updateSubscription(w http.ResponseWriter, r *http.Request) error {
	s, p, err := a.loadSub(r)
	if err != nil {
		return err
	}
	if p.ID == "" {
		state(r).decided = true
		return &httpError{http.StatusConflict, "unknown_product", "The subscription's product no longer exists."}
	}
	if err := a.authorize(r, "", authz.SubscriptionsApprove, productScope(p)); err != nil {
		return err
	}
	var in SubscriptionPatch
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	if rev > 0 && rev != s.Rev {
		return storeError(store.ErrVersionMismatch, "subscription")
	}
	pl, err := a.opts.Store.GetPlan(r.Context(), p.ID, in.Plan)
	if errors.Is(err, store.ErrNotFound) {
		return &httpError{http.StatusNotFound, "not_found", "No such object: plan."}
	} else if err != nil {
		return err
	}
	entry := a.auditFor(w, r, "subscription.plan", "subscription", s.ID, s.OrgID, nil, nil)
	out, err := a.opts.Store.ChangeSubscriptionPlan(r.Context(), s.ID, pl.Name, rev, time.Now(), entry)
	switch {
	case errors.Is(err, product.ErrTransition):
		return &httpError{http.StatusConflict, "invalid_transition", err.Error() + "."}
	case err != nil:
		return storeError(err, "subscription")
	}
	return a.refreshAndWrite(w, r, http.StatusOK, out.Rev, a.subView(out))
}

func (a *API) createSubscription(w http.ResponseWriter, r *http.Request) error {
	var in SubscriptionCreate
	if err := decodeBody(w, r, &in); err != nil {
		state(r).decided = true
		return err
	}
	appID := in.Application
	if strings.Contains(appID, "/") {
		state(r).decided = true
		u := a.opts.Snapshots.Load().UnitByPath(appID)
		if u == nil || u.Kind != store.KindApp {
			return &httpError{http.StatusNotFound, "not_found", "No such object: application."}
		}
		appID = u.ID
	}
	app, err := a.loadUnit(r, appKind, appID, "")
	if err != nil {
		return fieldNotFound(err, "application")
	}
	if err := a.authorize(r, "", authz.SubscriptionsWrite, scopeOf(app)); err != nil {
		return err
	}
	p, err := a.opts.Store.GetProduct(r.Context(), in.Product)
	if err != nil || !a.productVisible(r, p) {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return &httpError{http.StatusNotFound, "not_found", "No such object: product."}
	}
	pl, err := a.opts.Store.GetPlan(r.Context(), p.ID, in.Plan)
	if errors.Is(err, store.ErrNotFound) {
		return &httpError{http.StatusNotFound, "not_found", "No such object: plan."}
	} else if err != nil {
		return err
	}
	if len(in.Reason) > 2000 {
		return &httpError{http.StatusBadRequest, "invalid_body", "reason: at most 2000 characters."}
	}
	now := time.Now().UTC()
	sub := store.SubscriptionRecord{Subscription: product.Subscription{ID: newID(store.PrefixSubscription), Application: app.ID,
		Product: p.Name, Plan: pl.Name, State: product.InitialState(pl.Approval), Reason: in.Reason},
		OrgID: app.OrgID, TeamID: app.TeamID, RequestedBy: principal(r).Name(), CreatedAt: now, UpdatedAt: now, Rev: 1}
	if sub.State == product.Active {
		sub.DecidedBy, sub.DecidedAt = "auto", &now
		if pl.Duration > 0 {
			end := now.Add(pl.Duration)
			sub.ExpiresAt = &end
		}
	}
	entry := a.auditFor(w, r, "subscription.create", "subscription", sub.ID, sub.OrgID, nil, sub)
	if err := a.opts.Store.CreateSubscription(r.Context(), sub, entry); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &httpError{http.StatusConflict, "already_subscribed", "The application already has an open subscription to this product."}
		}
		return storeError(err, "subscription")
	}
	return a.refreshAndWrite(w, r, http.StatusCreated, 1, a.subView(sub))
}

// transitionSub changes a subscription's state: approve, reject, suspend
// and resume by the product's team (subscriptions.approve there), cancel
// by the application's team (subscriptions.write there).
func (a *API) transitionSub(ev product.SubEvent) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, p, err := a.loadSub(r)
		if err != nil {
			return err
		}
		if ev == product.Cancel {
			err = a.authorize(r, "", authz.SubscriptionsWrite, subScope(s))
		} else if p.ID == "" {
			state(r).decided = true
			err = &httpError{http.StatusConflict, "unknown_product", "The subscription's product no longer exists."}
		} else {
			err = a.authorize(r, "", authz.SubscriptionsApprove, productScope(p))
		}
		if err != nil {
			return err
		}
		var in SubscriptionNote
		if err := decodeOptional(w, r, &in); err != nil {
			return err
		}
		if len(in.Note) > 2000 {
			return &httpError{http.StatusBadRequest, "invalid_body", "note: at most 2000 characters."}
		}
		now := time.Now().UTC()
		t := store.Transition{Event: ev, Note: in.Note, Actor: principal(r).Name(), At: now}
		if ev == product.Approve && p.ID != "" {
			if pl, err := a.opts.Store.GetPlan(r.Context(), p.ID, s.Plan); err == nil && pl.Duration > 0 {
				end := now.Add(pl.Duration)
				t.ExpiresAt = &end
			}
		}
		entry := a.auditFor(w, r, "subscription."+string(ev), "subscription", s.ID, s.OrgID, nil, nil)
		out, err := a.opts.Store.TransitionSubscription(r.Context(), s.ID, t, entry)
		switch {
		case errors.Is(err, product.ErrTransition):
			return &httpError{http.StatusConflict, "invalid_transition", err.Error() + "."}
		case errors.Is(err, store.ErrVersionMismatch):
			return &httpError{http.StatusConflict, "invalid_transition", "The subscription changed meanwhile; read it again."}
		case err != nil:
			return storeError(err, "subscription")
		}
		return a.refreshAndWrite(w, r, http.StatusOK, out.Rev, a.subView(out))
	}
}

// decodeOptional decodes a JSON body strictly when there is one; an empty
// body leaves v as it is.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return &httpError{http.StatusBadRequest, "invalid_body", "The body must be a JSON object of at most 64 KiB."}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := jsonlimit.Check(body, jsonlimit.MaxDepth); err != nil {
		return &httpError{http.StatusBadRequest, "invalid_body", "The body must be a JSON object: " + err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() {
		return &httpError{http.StatusBadRequest, "invalid_body", "The body must be one JSON object with known fields."}
	}
	return nil
}

// CallersAnswer is "who still calls X": its callers over a time range.
type CallersAnswer struct {
	Object  string            `json:"object" enum:"list"`
	Product string            `json:"product,omitempty"`
	Version string            `json:"version,omitempty"`
	Model   string            `json:"model,omitempty"`
	From    time.Time         `json:"from"`
	To      *time.Time        `json:"to,omitempty"`
	Data    []store.CallerRow `json:"data"`
}

func callersRange(r *http.Request) (store.CallersFilter, error) {
	q := r.URL.Query()
	var f store.CallersFilter
	var err error
	if f.From, err = parseTime(q.Get("from"), "from", time.Now().UTC().AddDate(0, 0, -30)); err != nil {
		return f, err
	}
	if q.Get("to") != "" {
		if f.To, err = parseTime(q.Get("to"), "to", time.Time{}); err != nil {
			return f, err
		}
	}
	return f, nil
}

// productCallers answers who still calls a product (or one version): read
// by those who may read the usage in the product's team.
func (a *API) productCallers(w http.ResponseWriter, r *http.Request) error {
	p, err := a.loadProduct(r, r.PathValue("id"), "")
	if err != nil {
		return err
	}
	if err := a.authorize(r, "", authz.UsageRead, productScope(p)); err != nil {
		return err
	}
	f, err := callersRange(r)
	if err != nil {
		return err
	}
	f.Product, f.Version = p.Name, r.URL.Query().Get("version")
	return a.writeCallers(w, r, f)
}

// modelCallers answers who still calls a model (the platform's view).
func (a *API) modelCallers(w http.ResponseWriter, r *http.Request) error {
	f, err := callersRange(r)
	if err != nil {
		return err
	}
	f.Model = r.URL.Query().Get("model") // none: every model's callers
	return a.writeCallers(w, r, f)
}

func (a *API) writeCallers(w http.ResponseWriter, r *http.Request, f store.CallersFilter) error {
	rows, err := a.opts.Store.Callers(r.Context(), f)
	if err != nil {
		return err
	}
	out := CallersAnswer{Object: "list", Product: f.Product, Version: f.Version, Model: f.Model, From: f.From, Data: rows}
	if !f.To.IsZero() {
		out.To = &f.To
	}
	return writeJSON(w, http.StatusOK, out)
}

// VersionDiff is what a version changes against another: each field that
// differs, with both values.
type VersionDiff struct {
	Version string                        `json:"version"`
	Against string                        `json:"against"`
	Changes map[string][2]json.RawMessage `json:"changes" doc:"field -> [against's value, version's value]"`
}

// diffVersion compares a version (usually a draft) with another (by
// default the newest published one).
func (a *API) diffVersion(w http.ResponseWriter, r *http.Request) error {
	p, err := a.loadProduct(r, r.PathValue("id"), "")
	if err != nil {
		return err
	}
	v, err := a.opts.Store.GetVersion(r.Context(), p.ID, r.PathValue("version"))
	if err != nil {
		return a.missing(r, err)
	}
	against := r.URL.Query().Get("against")
	if against == "" {
		vs, err := a.opts.Store.ListVersions(r.Context(), p.ID)
		if err != nil {
			return err
		}
		var newest time.Time
		for _, o := range vs {
			if o.State == product.Published && o.Version.Version != v.Version.Version && o.UpdatedAt.After(newest) {
				against, newest = o.Version.Version, o.UpdatedAt
			}
		}
		if against == "" {
			return &httpError{http.StatusConflict, "nothing_to_compare", "No other published version; name one with against."}
		}
	}
	o, err := a.opts.Store.GetVersion(r.Context(), p.ID, against)
	if errors.Is(err, store.ErrNotFound) {
		return &httpError{http.StatusNotFound, "not_found", "No such object: against."}
	} else if err != nil {
		return err
	}
	fields := func(x product.Version) map[string]json.RawMessage {
		x.Version = ""
		b, _ := json.Marshal(x)
		m := map[string]json.RawMessage{}
		_ = json.Unmarshal(b, &m)
		return m
	}
	nv, ov := fields(v.Version), fields(o.Version)
	out := VersionDiff{Version: v.Version.Version, Against: against, Changes: map[string][2]json.RawMessage{}}
	for k := range nv {
		if !bytes.Equal(nv[k], ov[k]) {
			out.Changes[k] = [2]json.RawMessage{orNull(ov[k]), nv[k]}
		}
	}
	for k := range ov {
		if _, ok := nv[k]; !ok {
			out.Changes[k] = [2]json.RawMessage{ov[k], json.RawMessage("null")}
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func orNull(m json.RawMessage) json.RawMessage {
	if m == nil {
		return json.RawMessage("null")
	}
	return m
}

// Keyset pages of products (by name) and subscriptions (by creation time,
// then id), as the ledger's: a cursor names the last row shown.
const (
	productCursorTag = "p1"
	subCursorTag     = "s1"
)

// pageLimit reads limit: 1-1000, default 100.
func pageLimit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, &httpError{http.StatusBadRequest, "invalid_limit", "limit must be an integer from 1 to 1000."}
	}
	return n, nil
}

// parseNameCursor reads a cursor that names a row by name: "" without one.
func parseNameCursor(s, tag string) (string, error) {
	if s == "" {
		return "", nil
	}
	parts, err := decodeCursor(s, tag, 1)
	if err != nil {
		return "", err
	}
	return parts[0], nil
}

func subCursor(c store.SubscriptionCursor) string {
	return encodeCursor(subCursorTag, strconv.FormatInt(c.CreatedAt, 10), c.ID)
}

// parseSubCursor reads the subscriptions' cursor: nil without one.
func parseSubCursor(s string) (*store.SubscriptionCursor, error) {
	if s == "" {
		return nil, nil
	}
	parts, err := decodeCursor(s, subCursorTag, 2)
	if err != nil {
		return nil, err
	}
	at, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || at < 0 {
		return nil, errInvalidCursor
	}
	return &store.SubscriptionCursor{CreatedAt: at, ID: parts[1]}, nil
}

// pageParams are the query parameters of the products' and subscriptions' pages.
var pageParams = []openapi.Param{q("limit", "integer", "1-1000, default 100."), q("cursor", "string", "The next_cursor of the previous page.")}
