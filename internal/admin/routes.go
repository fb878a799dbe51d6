package admin

import (
	"net/http"
	"sync"

	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/openapi"
	"github.com/sluicehq/sluice/internal/product"
	"github.com/sluicehq/sluice/internal/store"
)

// list is the shape of every list answer.
type list[T any] struct {
	Object string `json:"object" enum:"list"`
	Data   []T    `json:"data"`
}

// Deleted answers a deletion or revocation.
type Deleted struct {
	Deleted string `json:"deleted,omitempty"`
	Revoked string `json:"revoked,omitempty"`
}

func q(name, typ, descr string) openapi.Param {
	return openapi.Param{Name: name, Type: typ, Description: descr}
}

var scopeParams = []openapi.Param{
	q("org_id", "string", "An organisation."), q("team_id", "string", "A team."),
	q("app_id", "string", "An application."), q("key_id", "string", "A key: its id or name (keys declared in the file too)."),
}

// routes declares every admin route: its pattern, the action it is about
// (decided in the object's scope), its handler and its documentation.
func (a *API) routes(add func(string, authz.Action, func(http.ResponseWriter, *http.Request) error, openapi.Op)) {
	// Sessions and identity.
	add("POST /admin/v1/auth/login", "", a.loginPassword, openapi.Op{ID: "login", Tags: []string{"auth"}, Public: true,
		Summary: "Sign in with email and password", Description: "Sets the session cookie; answers the CSRF token.",
		Request: LoginRequest{}, Response: LoginAnswer{}})
	add("POST /admin/v1/auth/logout", authz.Self, a.logout, openapi.Op{ID: "logout", Tags: []string{"auth"}, Summary: "End the session"})
	add("GET /admin/v1/auth/oidc/login", "", a.oidcLogin, openapi.Op{ID: "oidcLogin", Tags: []string{"auth"}, Public: true,
		Summary: "Start single sign-on", Description: "Redirects to the identity provider.", ResponseStatus: http.StatusFound,
		Query: []openapi.Param{q("return_to", "string", "A local path to return to.")}})
	add("GET /admin/v1/auth/oidc/callback", "", a.oidcCallback, openapi.Op{ID: "oidcCallback", Tags: []string{"auth"}, Public: true,
		Summary: "Finish single sign-on", ResponseStatus: http.StatusFound,
		Query: []openapi.Param{q("code", "string", ""), q("state", "string", ""),
			// What identity providers add (RFC 9207, Keycloak, Google) or send on failure.
			q("iss", "string", ""), q("session_state", "string", ""), q("scope", "string", ""), q("authuser", "string", ""),
			q("prompt", "string", ""), q("hd", "string", ""), q("error", "string", ""), q("error_description", "string", ""),
			q("error_uri", "string", "")}})
	add("GET /admin/v1/me", authz.Self, a.me, openapi.Op{ID: "me", Tags: []string{"auth"}, Summary: "Who am I", Response: Me{}})
	add("GET /admin/v1/tokens", authz.Self, a.listTokens, openapi.Op{ID: "listTokens", Tags: []string{"auth"},
		Summary: "My admin API tokens", Response: list[TokenView]{}})
	add("POST /admin/v1/tokens", authz.Self, a.createToken, openapi.Op{ID: "createToken", Tags: []string{"auth"},
		Summary: "Create an admin API token (shown once)", Request: TokenCreate{}, Response: TokenView{}, ResponseStatus: http.StatusCreated})
	add("DELETE /admin/v1/tokens/{id}", authz.Self, a.revokeToken, openapi.Op{ID: "revokeToken", Tags: []string{"auth"},
		Summary: "Revoke one of my admin API tokens", Response: Deleted{}})
	add("GET /admin/openapi.json", "", a.openAPI, openapi.Op{ID: "openapiAlias", Tags: []string{"meta"}, Public: true,
		Summary: "This document (alias)", Response: map[string]any{}})
	add("GET /admin/v1/openapi.json", "", a.openAPI, openapi.Op{ID: "openapi", Tags: []string{"meta"}, Public: true,
		Summary: "This document", Response: map[string]any{}})

	// Organisations, teams, applications.
	for _, k := range []struct {
		spec            kindSpec
		path, one, many string
		listQuery       []openapi.Param
	}{
		{orgKind, "orgs", "Org", "Orgs", nil},
		{teamKind, "teams", "Team", "Teams", []openapi.Param{q("org_id", "string", "Only this organisation's.")}},
		{appKind, "apps", "App", "Apps", []openapi.Param{q("org_id", "string", ""), q("team_id", "string", "Only this team's.")}},
	} {
		base := "/admin/v1/" + k.path
		tags := []string{k.path}
		add("GET "+base, k.spec.read, a.listUnits(k.spec), openapi.Op{ID: "list" + k.many, Tags: tags,
			Summary: "List " + k.spec.noun + "s you may read", Query: append(k.listQuery, listPageParams...), Response: page[UnitView]{}})
		add("POST "+base, k.spec.write, a.createUnit(k.spec), openapi.Op{ID: "create" + k.one, Tags: tags,
			Summary: "Create a " + k.spec.noun, Request: UnitCreate{}, Response: UnitView{}, ResponseStatus: http.StatusCreated, ETag: true})
		add("GET "+base+"/{id}", k.spec.read, a.getUnit(k.spec), openapi.Op{ID: "get" + k.one, Tags: tags,
			Summary: "Read a " + k.spec.noun, Response: UnitView{}, ETag: true})
		add("PATCH "+base+"/{id}", k.spec.write, a.updateUnit(k.spec), openapi.Op{ID: "update" + k.one, Tags: tags,
			Summary: "Change a " + k.spec.noun, Description: "Limits and budgets need the right to set limits on the level above.",
			Request: UnitPatch{}, Response: UnitView{}, ETag: true})
		add("DELETE "+base+"/{id}", k.spec.write, a.deleteUnit(k.spec), openapi.Op{ID: "delete" + k.one, Tags: tags,
			Summary: "Delete an empty " + k.spec.noun, Response: Deleted{}, ETag: true})
	}

	// Keys.
	keyTags := []string{"keys"}
	add("GET /admin/v1/keys", authz.KeysRead, a.listKeys, openapi.Op{ID: "listKeys", Tags: keyTags, Summary: "List keys you may read",
		Query: append(scopeParams[:3:3], keyPageParams...), Response: list[store.KeyRecord]{}})
	add("POST /admin/v1/keys", authz.KeysWrite, a.createKey, openapi.Op{ID: "createKey", Tags: keyTags,
		Summary: "Create a key (shown once)", Request: KeyCreate{}, Response: KeyCreated{}, ResponseStatus: http.StatusCreated, ETag: true})
	add("GET /admin/v1/keys/{id}", authz.KeysRead, a.getKey, openapi.Op{ID: "getKey", Tags: keyTags, Summary: "Read a key",
		Response: store.KeyRecord{}, ETag: true})
	add("PATCH /admin/v1/keys/{id}", authz.KeysWrite, a.updateKey, openapi.Op{ID: "updateKey", Tags: keyTags, Summary: "Change a key",
		Request: KeyPatch{}, Response: store.KeyRecord{}, ETag: true})
	add("DELETE /admin/v1/keys/{id}", authz.KeysWrite, a.revokeKey, openapi.Op{ID: "revokeKey", Tags: keyTags,
		Summary: "Revoke a key", Description: "Takes effect on every node within one second.", Response: Deleted{}})
	add("POST /admin/v1/keys/{id}/rotate", authz.KeysWrite, a.rotateKey, openapi.Op{ID: "rotateKey", Tags: keyTags,
		Summary: "Give a key a new value", Description: "The old value keeps working for the overlap window (default one hour).",
		Request: RotateRequest{}, Response: KeyCreated{}, ETag: true})

	// Users and roles.
	userTags := []string{"users"}
	add("GET /admin/v1/users", authz.UsersRead, a.listUsers, openapi.Op{ID: "listUsers", Tags: userTags, Summary: "List users you may read",
		Query: listPageParams, Response: page[UserView]{}})
	add("POST /admin/v1/users", authz.UsersWrite, a.createUser, openapi.Op{ID: "createUser", Tags: userTags, Summary: "Create a user",
		Request: UserCreate{}, Response: UserView{}, ResponseStatus: http.StatusCreated, ETag: true})
	add("GET /admin/v1/users/{id}", authz.UsersRead, a.getUser, openapi.Op{ID: "getUser", Tags: userTags, Summary: "Read a user",
		Response: UserView{}, ETag: true})
	add("PATCH /admin/v1/users/{id}", authz.UsersWrite, a.updateUser, openapi.Op{ID: "updateUser", Tags: userTags,
		Summary: "Change a user (name, password, disabled)", Request: UserPatch{}, Response: UserView{}, ETag: true})
	add("GET /admin/v1/role-bindings", authz.UsersRead, a.listBindings, openapi.Op{ID: "listRoleBindings", Tags: userTags,
		Summary: "List role bindings", Query: append(scopeParams[:1:1], listPageParams...), Response: page[BindingView]{}})
	add("POST /admin/v1/role-bindings", authz.UsersWrite, a.createBinding, openapi.Op{ID: "createRoleBinding", Tags: userTags,
		Summary: "Give a user a role", Request: BindingInput{}, Response: BindingView{}, ResponseStatus: http.StatusCreated})
	add("DELETE /admin/v1/role-bindings/{id}", authz.UsersWrite, a.deleteBinding, openapi.Op{ID: "deleteRoleBinding", Tags: userTags,
		Summary: "Take a role away", Response: Deleted{}})

	// Usage, ledger, audit.
	add("GET /admin/v1/usage", authz.UsageRead, a.usage, openapi.Op{ID: "usage", Tags: []string{"usage"},
		Summary: "Requests, tokens and cost from the ledger",
		Query: append([]openapi.Param{q("from", "string", "Start (default: this month)."), q("to", "string", "End (exclusive)."),
			q("group_by", "string", "key, app, team, org or model.")}, scopeParams...), Response: UsageAnswer{}})
	add("GET /admin/v1/requests", authz.UsageRead, a.listRequests, openapi.Op{ID: "listRequests", Tags: []string{"usage"},
		Summary: "Ledger entries, newest first", Query: append([]openapi.Param{q("limit", "integer", "1-1000, default 100."),
			q("cursor", "string", "The next_cursor of the previous page.")}, scopeParams...),
		Response: page[ledger.Entry]{}})
	add("GET /admin/v1/budget-alerts", authz.UsageRead, a.listBudgetAlerts, openapi.Op{ID: "listBudgetAlerts", Tags: []string{"usage"},
		Summary: "Budget thresholds crossed", Query: append(scopeParams[:1:1], listPageParams...), Response: page[store.BudgetAlert]{}})
	add("GET /admin/v1/audit", authz.AuditRead, a.listAudit, openapi.Op{ID: "listAudit", Tags: []string{"audit"},
		Summary: "The audit log, newest first", Query: []openapi.Param{q("org_id", "string", "Required except for the super-admin."),
			q("object_type", "string", ""), q("object_id", "string", ""), q("limit", "integer", "1-1000, default 100."),
			q("cursor", "string", "The next_cursor of the previous page.")}, Response: page[store.AuditEntry]{}})

	// Analytics, alerts and the request log.
	add("GET /admin/v1/analytics", authz.UsageRead, a.analytics, openapi.Op{ID: "analytics", Tags: []string{"analytics"},
		Summary:     "Requests, errors, tokens, cost and latency over time, from the rollups",
		Description: "Buckets of interval (1m to 1d) from from to to (rounded out to whole minutes), per group; empty buckets are absent.",
		Query: append([]openapi.Param{q("from", "string", "Start, RFC 3339 (default: a day before to)."),
			q("to", "string", "End, exclusive (default: now)."), q("interval", "string", "1m, 5m, 15m, 1h, 6h, 1d... (default 1h)."),
			q("group_by", "string", "Comma-separated: model, provider, key, application, team, organisation, product, prompt, status."),
			q("metrics", "string", "Comma-separated (default all): requests, errors, error_rate, tokens, cost, latency, ttft, cache_hit_rate."),
			q("model", "string", "Only this model."), q("provider", "string", "Only this provider."), q("product", "string", ""),
			q("prompt", "string", ""), q("status", "string", ""),
			q("top", "integer", "Only the top (1-1000) series by rank_by over the whole range, in rank order; the rest summed in other."),
			q("rank_by", "string", "The metric top ranks by (default requests)."),
			q("rankings", "string", "Comma-separated dimensions (as group_by): each one's top values over the whole range, read with the series."),
			q("ranking_metrics", "string", "The rankings' metrics, as metrics (default: metrics); without a percentile, no histograms per value."),
			q("key_ids", "string", "Only these keys: comma-separated ids (at most 200)."), q("app_ids", "string", "Only these applications: comma-separated ids (at most 200).")}, scopeParams...), Response: AnalyticsAnswer{}})
	add("GET /admin/v1/request-log", authz.UsageRead, a.listCaptures, openapi.Op{ID: "listCaptures", Tags: []string{"analytics"},
		Summary: "Captured request and response bodies (request_log), redacted, newest first",
		Query: append([]openapi.Param{q("request_id", "string", ""), q("model", "string", ""), q("status", "string", ""),
			q("from", "string", ""), q("to", "string", ""), q("limit", "integer", "1-500, default 50."),
			q("cursor", "string", "The next_cursor of the previous page.")}, scopeParams...),
		Response: page[store.Capture]{}})
	add("GET /admin/v1/alerts", authz.GatewayRead, a.listAlerts, openapi.Op{ID: "listAlerts", Tags: []string{"alerts"},
		Summary: "Alert states, recent transitions and disabled channels", Query: []openapi.Param{q("limit", "integer", "1-1000 transitions, default 100; with limit or cursor, transitions_next_cursor names the older ones."), q("cursor", "string", "The transitions_next_cursor of the previous page.")},
		Response: AlertsAnswer{}})
	add("GET /admin/v1/alert-rules", authz.GatewayRead, a.listAlertRules, openapi.Op{ID: "listAlertRules", Tags: []string{"alerts"},
		Summary: "Alert rules made through the API (the file's are in alert_rules)", Response: list[AlertRuleInput]{}})
	add("POST /admin/v1/alert-rules", authz.GatewayWrite, a.createAlertRule, openapi.Op{ID: "createAlertRule", Tags: []string{"alerts"},
		Summary: "Create an alert rule", Request: AlertRuleInput{}, Response: AlertRuleInput{}, ResponseStatus: http.StatusCreated})
	add("DELETE /admin/v1/alert-rules/{id}", authz.GatewayWrite, a.deleteAlertRule, openapi.Op{ID: "deleteAlertRule",
		Tags: []string{"alerts"}, Summary: "Delete an alert rule (by id or name)", Response: Deleted{}})
	add("POST /admin/v1/alert-channels/{id}/enable", authz.GatewayWrite, a.enableAlertChannel, openapi.Op{ID: "enableAlertChannel",
		Tags: []string{"alerts"}, Summary: "Switch a channel disabled after failed deliveries back on", Response: map[string]string{}})

	// API products, their versions and plans, subscriptions, emergency stops (products.go).
	pt2 := []string{"products"}
	add("GET /admin/v1/products", authz.ProductsRead, a.listProducts, openapi.Op{ID: "listProducts", Tags: pt2,
		Summary: "List the products you may see (by visibility)", Query: pageParams, Response: page[ProductView]{}})
	add("POST /admin/v1/products", authz.ProductsWrite, a.createProduct, openapi.Op{ID: "createProduct", Tags: pt2,
		Summary: "Create a product in a team", Request: ProductInput{}, Response: ProductView{}, ResponseStatus: http.StatusCreated, ETag: true})
	add("GET /admin/v1/products/{id}", authz.ProductsRead, a.getProduct, openapi.Op{ID: "getProduct", Tags: pt2,
		Summary: "Read a product (id or name) with its versions and plans", Response: ProductView{}, ETag: true})
	add("PATCH /admin/v1/products/{id}", authz.ProductsWrite, a.updateProduct, openapi.Op{ID: "updateProduct", Tags: pt2,
		Summary: "Change a product", Request: ProductInput{}, Response: ProductView{}, ETag: true})
	add("DELETE /admin/v1/products/{id}", authz.ProductsWrite, a.deleteProduct, openapi.Op{ID: "deleteProduct", Tags: pt2,
		Summary: "Delete a product without open subscriptions", Response: Deleted{}, ETag: true})
	add("POST /admin/v1/products/{id}/versions", authz.ProductsWrite, a.createVersion, openapi.Op{ID: "createProductVersion", Tags: pt2,
		Summary: "Create a draft version", Request: VersionInput{}, Response: store.VersionRecord{}, ResponseStatus: http.StatusCreated, ETag: true})
	add("PATCH /admin/v1/products/{id}/versions/{version}", authz.ProductsWrite, a.updateVersion, openapi.Op{ID: "updateProductVersion",
		Tags: pt2, Summary: "Edit a draft version", Request: VersionInput{}, Response: store.VersionRecord{}, ETag: true})
	add("GET /admin/v1/products/{id}/versions/{version}/diff", authz.ProductsRead, a.diffVersion, openapi.Op{ID: "diffProductVersion",
		Tags: pt2, Summary: "What a version (a draft) changes against another (default: the newest published one)",
		Query: []openapi.Param{q("against", "string", "The version to compare with.")}, Response: VersionDiff{}})
	for _, ev := range []struct{ name, summary string }{
		{"publish", "Publish a draft (a second person confirms when the product asks for it: 202 until then)"},
		{"deprecate", "Deprecate a published version: Deprecation, Sunset and Link headers, 410 after the sunset"},
		{"rollback", "Republish a deprecated version"}, {"retire", "Retire a version: it answers 404"},
		{"suspend", "Emergency stop: every node answers 503 with the reason within a second"},
		{"resume", "Lift the emergency stop"},
	} {
		add("POST /admin/v1/products/{id}/versions/{version}/"+ev.name, authz.ProductsWrite, a.versionAction(ev.name),
			openapi.Op{ID: ev.name + "ProductVersion", Tags: pt2, Summary: ev.summary, Request: VersionAction{}, Response: map[string]any{}})
	}
	add("POST /admin/v1/products/{id}/plans", authz.ProductsWrite, a.createPlan, openapi.Op{ID: "createPlan", Tags: pt2,
		Summary: "Create a plan", Request: PlanBody{}, Response: PlanBody{}, ResponseStatus: http.StatusCreated, ETag: true})
	add("PATCH /admin/v1/products/{id}/plans/{plan}", authz.ProductsWrite, a.updatePlan, openapi.Op{ID: "updatePlan", Tags: pt2,
		Summary: "Change a plan (every node within a second)", Request: PlanBody{}, Response: PlanBody{}, ETag: true})
	add("DELETE /admin/v1/products/{id}/plans/{plan}", authz.ProductsWrite, a.deletePlan, openapi.Op{ID: "deletePlan", Tags: pt2,
		Summary: "Delete a plan without open subscriptions", Response: Deleted{}})
	st2 := []string{"subscriptions"}
	add("GET /admin/v1/subscriptions", authz.SubscriptionsRead, a.listSubscriptions, openapi.Op{ID: "listSubscriptions", Tags: st2,
		Summary: "List subscriptions: your applications' and your products'", Query: append(scopeParams[:3:3],
			append([]openapi.Param{q("product", "string", "Only this product's."),
				q("state", "string", "pending, active, suspended, cancelled, expired or rejected."),
				q("usage", "boolean", "true: each active row carries its standing against the plan's request quota.")}, pageParams...)...),
		Response: page[SubscriptionView]{}})
	add("POST /admin/v1/subscriptions", authz.SubscriptionsWrite, a.createSubscription, openapi.Op{ID: "createSubscription", Tags: st2,
		Summary: "Request a subscription of an application to a product plan", Description: "pending for a manual plan, active for an automatic one.",
		Request: SubscriptionCreate{}, Response: SubscriptionView{}, ResponseStatus: http.StatusCreated, ETag: true})
	add("GET /admin/v1/subscriptions/{id}", authz.SubscriptionsRead, a.getSubscription, openapi.Op{ID: "getSubscription", Tags: st2,
		Summary: "Read a subscription", Response: SubscriptionView{}, ETag: true})
	add("PATCH /admin/v1/subscriptions/{id}", authz.SubscriptionsApprove, a.updateSubscription, openapi.Op{ID: "updateSubscription", Tags: st2,
		Summary: "Move a subscription to another plan of its product", Description: "Who may approve it may; every node applies the new plan within a second, with the same keys.",
		Request: SubscriptionPatch{}, Response: SubscriptionView{}, ETag: true})
	// An organisation's notification webhook for subscriber notices (orgwebhooks.go).
	add("GET /admin/v1/orgs/{id}/notify-webhook", authz.OrgsWrite, a.getOrgWebhook, openapi.Op{ID: "getOrgNotifyWebhook", Tags: []string{"orgs"},
		Summary: "Read an organisation's notification webhook (the owner's)", Response: OrgWebhookView{}, ETag: true})
	add("PUT /admin/v1/orgs/{id}/notify-webhook", authz.OrgsWrite, a.putOrgWebhook, openapi.Op{ID: "putOrgNotifyWebhook", Tags: []string{"orgs"},
		Summary: "Set an organisation's notification webhook", Description: "Subscriber notices of its applications go there, signed with the secret.",
		Request: OrgWebhookInput{}, Response: OrgWebhookView{}, ETag: true})
	add("DELETE /admin/v1/orgs/{id}/notify-webhook", authz.OrgsWrite, a.deleteOrgWebhook, openapi.Op{ID: "deleteOrgNotifyWebhook", Tags: []string{"orgs"},
		Summary: "Remove an organisation's notification webhook (notices go to the alerts webhook)", Response: Deleted{}})
	for _, ev := range []product.SubEvent{product.Approve, product.Reject, product.Suspend, product.Resume, product.Cancel} {
		action := authz.SubscriptionsApprove
		if ev == product.Cancel {
			action = authz.SubscriptionsWrite
		}
		add("POST /admin/v1/subscriptions/{id}/"+string(ev), action, a.transitionSub(ev), openapi.Op{ID: string(ev) + "Subscription",
			Tags: st2, Summary: string(ev) + " a subscription", Request: SubscriptionNote{}, Response: SubscriptionView{}, ETag: true})
	}
	add("GET /admin/v1/products/{id}/callers", authz.ProductsRead, a.productCallers, openapi.Op{ID: "productCallers", Tags: []string{"products"},
		Summary:     "Who still calls a product: requests, tokens, cost and last_seen by organisation, team, application and key",
		Description: "Needs usage.read in the product's team.", Query: []openapi.Param{q("version", "string", "Only this version."),
			q("from", "string", "Start (default 30 days ago)."), q("to", "string", "End (exclusive).")}, Response: CallersAnswer{}})
	add("GET /admin/v1/models/callers", authz.GatewayRead, a.modelCallers, openapi.Op{ID: "modelCallers", Tags: []string{"gateway"},
		Summary: "Who still calls a model", Query: []openapi.Param{q("model", "string", "The model (default: every model)."),
			q("from", "string", "Start (default 30 days ago)."), q("to", "string", "End (exclusive).")}, Response: CallersAnswer{}})
	add("GET /admin/v1/stops", authz.GatewayRead, a.listStops, openapi.Op{ID: "listStops", Tags: []string{"gateway"},
		Summary: "Emergency stops in force", Response: list[store.Stop]{}})
	add("POST /admin/v1/models/suspend", authz.GatewayWrite, a.stopModel(true), openapi.Op{ID: "suspendModel", Tags: []string{"gateway"},
		Summary: "Emergency stop of a model: every node answers 503 with the reason within a second", Request: StopInput{}, Response: map[string]any{}})
	add("POST /admin/v1/models/resume", authz.GatewayWrite, a.stopModel(false), openapi.Op{ID: "resumeModel", Tags: []string{"gateway"},
		Summary: "Lift a model's emergency stop", Request: StopInput{}, Response: map[string]any{}})

	// Platform: providers and the gateway itself (super-admin).
	gw := []string{"gateway"}
	add("POST /admin/v1/reload", authz.GatewayWrite, a.reload, openapi.Op{ID: "reload", Tags: gw, Summary: "Reload the configuration file",
		Response: ConfigInfo{}})
	add("GET /admin/v1/config", authz.GatewayRead, a.configInfo, openapi.Op{ID: "configInfo", Tags: gw, Summary: "The running configuration",
		Response: ConfigInfo{}})
	add("GET /admin/v1/health", authz.GatewayRead, a.health, openapi.Op{ID: "health", Tags: gw, Summary: "Upstream health and limiter mode",
		Response: HealthInfo{}})
	pt := []string{"providers"}
	add("GET /admin/v1/providers", authz.ProvidersRead, a.listProviders, openapi.Op{ID: "listProviders", Tags: pt,
		Summary: "List providers: stored ones in full, the file's by name (read-only)", Response: list[ProviderView]{}})
	add("POST /admin/v1/providers", authz.ProvidersWrite, a.createProvider, openapi.Op{ID: "createProvider", Tags: pt,
		Summary: "Create a provider (API key sealed at rest)", Request: ProviderInput{}, Response: ProviderView{}, ResponseStatus: http.StatusCreated, ETag: true})
	add("GET /admin/v1/providers/{id}", authz.ProvidersRead, a.getProvider, openapi.Op{ID: "getProvider", Tags: pt, Summary: "Read a provider",
		Response: ProviderView{}, ETag: true})
	add("PATCH /admin/v1/providers/{id}", authz.ProvidersWrite, a.updateProvider, openapi.Op{ID: "updateProvider", Tags: pt,
		Summary: "Change a provider", Request: ProviderInput{}, Response: ProviderView{}, ETag: true})
	add("DELETE /admin/v1/providers/{id}", authz.ProvidersWrite, a.deleteProvider, openapi.Op{ID: "deleteProvider", Tags: pt,
		Summary: "Delete a provider no model uses", Response: Deleted{}, ETag: true})

	// Prompts: versions, labels and their history, test runs (prompts.go).
	a.promptRoutes(add)

	// Experiments: arms, sticky assignment, results, promotion (experiments.go).
	a.experimentRoutes(add)

	// Console reads: a prompt version rendered, guardrail and cache settings with counts (consolereads.go).
	a.consoleReadRoutes(add)
}

var (
	docOnce  sync.Once
	docBytes []byte
	docErr   error
)

// OpenAPI returns the admin API's OpenAPI 3.1 document.
func (a *API) OpenAPI() ([]byte, error) {
	docOnce.Do(func() {
		var ops []openapi.Op
		for _, rt := range a.Routes() {
			ops = append(ops, rt.Op)
		}
		docBytes, docErr = openapi.Document("Sluice admin API", "v1", ops)
	})
	return docBytes, docErr
}

func (a *API) openAPI(w http.ResponseWriter, _ *http.Request) error {
	b, err := a.OpenAPI()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(b)
	return err
}
