package proxy

// The product step: a request under /products/{product}/{version} passes
// only while the key's application holds an active subscription, not past
// its end, to a plan that allows the version; the version must be served,
// not stopped and before its sunset, and must expose the model and the
// endpoint. The plan's limits join the key's levels in the same atomic
// admission; the ledger entry names the product, version, plan and
// subscription; a version with a deprecation date carries the
// Deprecation, Sunset and Link headers. Every request, product or not, is
// refused 503 while its model is under an emergency stop. All of it is
// decided from the snapshot: no database call.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/product"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/runtime"
)

// inProductOpenAPI serves a product version's OpenAPI document.
var inProductOpenAPI = &ingress{endpoint: "openapi", proto: provider.ProtocolOpenAI, keyFrom: headerKey, serve: (*Handler).productOpenAPI}

// productPrefix is the base URL of a product version.
const productPrefix = "/products/{product}/{version}"

// productRoutes are the routes of every product version: the client APIs
// under its base URL, and its OpenAPI document.
func (h *Handler) productRoutes() []Route {
	return append(h.under(productPrefix), Route{"GET " + productPrefix + "/openapi.json", h.endpoint(inProductOpenAPI)})
}

// productFamily is the endpoint family of an ingress, as a version
// exposes it ("" for one no version exposes: embeddings).
func productFamily(endpoint string) string {
	switch {
	case endpoint == "chat.completions":
		return product.EndpointChat
	case endpoint == "responses":
		return product.EndpointResponses
	case strings.HasPrefix(endpoint, "messages"):
		return product.EndpointMessages
	case strings.HasPrefix(endpoint, "gemini"):
		return product.EndpointGemini
	}
	return ""
}

// productStep decides a product request (and a stopped model's), between
// resolve and admit.
func (h *Handler) productStep(ctx context.Context, c *Call, next Next) error {
	ps := c.snap.Products
	model := ""
	if c.fs != nil && c.fs.model != nil {
		model = c.fs.model.Name
	}
	name := c.r.PathValue("product")
	if name == "" {
		if r := ps.StopReason("", "", model); r != "" {
			return stopped("Model "+model, r)
		}
		return next(ctx, c)
	}
	if c.in == inProductOpenAPI {
		return next(ctx, c)
	}
	version := c.r.PathValue("version")
	c.entry.Product, c.entry.ProductVersion = name, version
	a := ps.Decide(c.key.AppID, name, version, time.Now())
	if a.Version != nil && a.Status != http.StatusNotFound {
		// Deprecation headers go on refusals too: a client learns of the
		// sunset whatever its subscription.
		for k, vs := range a.Version.Headers(product.VersionLinks(baseURL(c.r), name, a.Version)) {
			c.w.Header()[k] = vs
		}
	}
	switch a.Status {
	case 0:
	case http.StatusServiceUnavailable:
		return stopped("Product "+name+" "+version, ps.StopReason(name, version, ""))
	default:
		typ := map[int]string{http.StatusForbidden: oa.TypePermission, http.StatusNotFound: oa.TypeNotFound}[a.Status]
		if typ == "" {
			typ = oa.TypeInvalidRequest
		}
		return &Error{Status: a.Status, Type: typ, Code: a.Reason, Msg: a.Message + " (" + a.Reason + ")"}
	}
	c.entry.Plan, c.entry.SubscriptionID = a.Plan.Name, a.Sub.ID
	if c.in.endpoint == "models" {
		return h.productModels(c, a.Version)
	}
	family := productFamily(c.in.endpoint)
	if family == "" || !a.Version.Exposes(family) {
		return &Error{Status: http.StatusNotFound, Type: oa.TypeNotFound, Code: "endpoint_not_in_product",
			Msg: "Product " + name + " " + version + " does not expose this endpoint."}
	}
	if model != "" {
		if err := productModel(c, ps, a, model); err != nil {
			return err
		}
	}
	if err := h.planLevels(c, a); err != nil {
		return err
	}
	return next(ctx, c)
}

// productModel checks that the version exposes the model the client asked
// for and that no stop holds it or the model served: after a model's
// sunset with on_sunset: redirect, model_lifecycle has put its successor
// in c.fs.model (served), and c.entry.Model still names the model asked
// for.
func productModel(c *Call, ps *runtime.Products, a runtime.Access, served string) error {
	v, name, version := a.Version, a.Product.Name, a.Version.Version
	asked := served
	if c.entry.Model != "" {
		asked = c.entry.Model
	}
	client := asked
	if cm, ok := c.r.Context().Value(clientModelKey{}).(string); ok {
		client = cm
	}
	if v.Models[client] != asked {
		return &Error{Status: http.StatusNotFound, Type: oa.TypeNotFound, Code: "model_not_found", Param: "model",
			Msg: "Product " + name + " " + version + " does not expose the model " + client + "."}
	}
	for _, m := range []string{asked, served} {
		if r := ps.StopReason(name, version, m); r != "" {
			return stopped("Model "+m, r)
		}
	}
	return nil
}

// planLevels makes the plan's limits and its request quota (seeded from
// the ledger) more levels of this request's key, in the same all-or-none
// admission as the key's, its units' and the model's. The snapshot's key
// is shared: this request gets a copy.
func (h *Handler) planLevels(c *Call, a runtime.Access) error {
	var extra []runtime.Level
	if q := a.Sub.QuotaLevel(a.Plan); q != nil {
		if err := h.seedQuota(c.r.Context(), *q); err != nil {
			return err
		}
	}
	for _, lv := range []*runtime.Level{a.Sub.Level(a.Plan), a.Sub.QuotaLevel(a.Plan)} {
		if lv != nil {
			extra = append(extra, *lv)
		}
	}
	if len(extra) > 0 {
		k := *c.key
		k.Levels = append(slices.Clip(k.Levels), extra...)
		c.key = &k
	}
	return nil
}

// seedQuota loads a subscription's requests in its quota's current period
// from the ledger, once per subscription per process (and again when the
// shared store lost it), so that a restart does not give a quota back;
// concurrent first requests wait for one read.
func (h *Handler) seedQuota(ctx context.Context, lv runtime.Level) error {
	id := lv.Subject.ID
	if h.opts.RequestsSince == nil || h.opts.Limiter == nil || h.opts.Limiter.Seeded(id) {
		return nil
	}
	mu, _ := h.seeds.LoadOrStore(id, &sync.Mutex{})
	m := mu.(*sync.Mutex)
	m.Lock()
	defer m.Unlock()
	if h.opts.Limiter.Seeded(id) {
		return nil
	}
	start := lv.Subject.Limits.BudgetPeriod.Start(time.Now())
	n, err := h.opts.RequestsSince(ctx, lv.LedgerID, start)
	if err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Type: oa.TypeServer, Code: "quota_unavailable",
			Msg: "The request quota could not be read; try again.", Cause: err}
	}
	h.opts.Limiter.Seed(id, n, start)
	return nil
}

// stopped is the 503 of an emergency stop, naming what and why.
func stopped(what, reason string) error {
	return &Error{Status: http.StatusServiceUnavailable, Type: oa.TypeServer, Code: "suspended",
		Msg: what + " is suspended: " + reason + "."}
}

// baseURL is the scheme and host the client called (for Link headers).
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// productModels answers GET .../v1/models: only the models the version
// exposes, by the names clients send.
func (h *Handler) productModels(c *Call, v *product.Version) error {
	list := oa.ModelList{Object: "list", Data: []oa.Model{}}
	created := c.snap.LoadedAt.Unix()
	for _, name := range v.ClientModels() {
		if c.key.Allows(v.Models[name]) {
			list.Data = append(list.Data, oa.Model{ID: name, Object: "model", Created: created, OwnedBy: "sluice"})
		}
	}
	body, _ := json.Marshal(list)
	c.w.Header().Set("Content-Type", "application/json")
	c.wrote = true
	c.entry.HTTPStatus = http.StatusOK
	_, _ = c.w.Write(body)
	return nil
}

// productOpenAPI answers GET .../openapi.json: the version's OpenAPI 3.1
// document, to a key whose organisation may see the product (a private
// product: its team's keys; internal: its organisation's; public: any).
func (h *Handler) productOpenAPI(c *Call) error {
	name, version := c.r.PathValue("product"), c.r.PathValue("version")
	var p *runtime.Product
	if c.snap.Products != nil {
		p = c.snap.Products.ByName[name]
	}
	var v *product.Version
	if p != nil {
		v = p.Versions[version]
	}
	visible := p != nil && (p.Visibility == product.Public ||
		(p.Visibility == product.Internal && c.key.OrgID == p.OrgID) || c.key.TeamID == p.TeamID)
	if !visible || v == nil || !v.State.Served() {
		return &Error{Status: http.StatusNotFound, Type: oa.TypeNotFound, Code: "unknown_product",
			Msg: "No product " + name + " with a published version " + version + "."}
	}
	doc, err := product.OpenAPI(&p.Product, v)
	if err != nil {
		return err
	}
	c.entry.Product, c.entry.ProductVersion = name, version
	c.w.Header().Set("Content-Type", "application/json")
	c.wrote = true
	c.entry.HTTPStatus = http.StatusOK
	_, _ = c.w.Write(doc)
	return nil
}

// clientModelKey carries, in the request's context, the model name the
// client sent when productAlias replaced it by the Sluice model.
type clientModelKey struct{}

// productAlias runs before resolve: when the product version maps the
// model name the client sent to another Sluice model (an alias), the body's
// top-level "model" is replaced by the Sluice model's name, so that
// resolve, the limits, the route and the ledger see the Sluice model; the
// product step then checks the client's name against the version. On the
// Gemini paths, where the model is in the URL
// (.../v1beta/models/{model}:{method}), the path's model is replaced
// instead and the body is left as it is.
func (h *Handler) productAlias(ctx context.Context, c *Call, next Next) error {
	name := c.r.PathValue("product")
	if name == "" || c.snap.Products == nil || (c.in.resolve == nil) {
		return next(ctx, c)
	}
	p := c.snap.Products.ByName[name]
	if p == nil {
		return next(ctx, c)
	}
	v := p.Versions[c.r.PathValue("version")]
	if v == nil || !hasAlias(v) {
		return next(ctx, c)
	}
	if strings.HasPrefix(c.in.endpoint, "gemini") {
		rest := c.r.PathValue("rest")
		i := strings.LastIndexByte(rest, ':')
		if i <= 0 {
			return next(ctx, c) // resolve answers the malformed path
		}
		client := strings.TrimPrefix(rest[:i], "models/")
		if target, ok := v.Models[client]; ok && target != client {
			c.r.SetPathValue("rest", target+rest[i:])
			ctx = context.WithValue(ctx, clientModelKey{}, client)
			c.r = c.r.WithContext(ctx)
		}
		return next(ctx, c)
	}
	body, err := h.readUnchecked(c.w, c.r)
	if err != nil {
		return err
	}
	pk, err := peek(body) // checks the body as it reads it
	if err != nil {
		return err
	}
	client := pk.model.Str
	if target, ok := v.Models[client]; ok && target != client && pk.model.Index > 0 {
		quoted, _ := json.Marshal(target)
		raw := pk.model.Raw
		body = append(append(append([]byte{}, body[:pk.model.Index]...), quoted...), body[pk.model.Index+len(raw):]...)
		ctx = context.WithValue(ctx, clientModelKey{}, client)
		c.r = c.r.WithContext(ctx)
	}
	c.r.Body, c.r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	return next(ctx, c)
}

func hasAlias(v *product.Version) bool {
	for client, m := range v.Models {
		if client != m {
			return true
		}
	}
	return false
}
