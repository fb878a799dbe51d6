// Package config defines Sluice's declarative, versioned configuration file:
// its schema, strict decoding with ${ENV} interpolation, defaults, and
// validation that reports every problem with its field path.
package config

import "time"

// CurrentVersion is the only schema version this build understands.
const CurrentVersion = 1

// File is the root of a configuration file.
type File struct {
	Version   int        `yaml:"version"`
	Providers []Provider `yaml:"providers"`
	Models    []Model    `yaml:"models"`
	Keys      []Key      `yaml:"keys"`
	// Orgs declares organisations, their teams and applications; the
	// store holds them too (read-only through the admin API), so that the
	// file and the API agree.
	Orgs   []Org  `yaml:"orgs"`
	Access Access `yaml:"access"`
	Alerts Alerts `yaml:"alerts"`

	// Prompts are versioned prompts served as APIs (prompts.go).
	Prompts []Prompt `yaml:"prompts"`

	// Products are API products with versions and plans (products.go).
	Products []Product `yaml:"products"`

	// Observability exports traces (observability.go); FeedbackMetrics
	// declares what POST /v1/sluice/feedback accepts.
	Observability   Observability    `yaml:"observability"`
	FeedbackMetrics []FeedbackMetric `yaml:"feedback_metrics"`

	// Guardrails are declared here and attached by name (guardrails.go);
	// Cache holds the response cache's shared settings.
	Guardrails []Guardrail `yaml:"guardrails"`
	Cache      Cache       `yaml:"cache"`

	// AlertRules are alerts over the analytics (alertrules.go); RequestLog
	// captures bodies for chosen scopes (requestlog.go).
	AlertRules []AlertRule `yaml:"alert_rules"`
	RequestLog RequestLog  `yaml:"request_log"`
	// Experiments split a model's targets or a prompt's versions (experiments.go).
	Experiments []Experiment `yaml:"experiments"`
}

// Alerts says where budget alerts go besides the log, the metric and
// GET /admin/v1/budget-alerts.
type Alerts struct {
	// WebhookURL receives each budget threshold crossing as a JSON POST
	// (once per subject, period and threshold across the cluster).
	WebhookURL string `yaml:"webhook_url"`
	// WebhookHeaders are sent with it (e.g. an authorization header).
	WebhookHeaders map[string]string `yaml:"webhook_headers"`
}

// Limits are rate limits and a budget; zero values are unlimited. Keys,
// applications, teams, organisations and models carry them, and every
// level that applies to a request is enforced.
type Limits struct {
	// Requests and tokens per minute, concurrent requests.
	RPM           int64 `yaml:"rpm"`
	TPM           int64 `yaml:"tpm"`
	MaxConcurrent int64 `yaml:"max_concurrent"`
	// Budget caps spend per period.
	Budget *Budget `yaml:"budget"`
}

// Org is an organisation: a tenant.
type Org struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Limits      `yaml:",inline"`
	Teams       []Team   `yaml:"teams"`
	Guardrails  []string `yaml:"guardrails"`

	NotifyWebhook *OrgWebhook `yaml:"notify_webhook"` // products.go: where subscriber notices of its applications go
}

// Team is a team in an organisation.
type Team struct {
	Name         string `yaml:"name"`
	Description  string `yaml:"description"`
	Limits       `yaml:",inline"`
	Applications []App    `yaml:"applications"`
	Guardrails   []string `yaml:"guardrails"`
}

// App is an application (a consumer of the gateway) in a team.
type App struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Limits      `yaml:",inline"`
	Guardrails  []string `yaml:"guardrails"`
}

// Access configures administrative access: deny rules over the built-in
// roles, single sign-on, and the proxies trusted for client addresses.
type Access struct {
	Deny []DenyRule `yaml:"deny"`
	OIDC *OIDC      `yaml:"oidc"`
	// TrustedProxies are the networks (CIDRs) whose X-Forwarded-For is
	// believed when checking a key's source networks.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// SessionTTL is how long an admin login lasts (default 12h).
	SessionTTL Duration `yaml:"session_ttl"`
}

// DenyRule refuses actions to roles (in one organisation, when Org is set)
// or to users (by email). Actions are names such as "keys.write", a prefix
// such as "keys.*", or "*". Deny wins over every grant.
type DenyRule struct {
	Roles   []string `yaml:"roles"`
	Users   []string `yaml:"users"`
	Org     string   `yaml:"org"`
	Actions []string `yaml:"actions"`
}

// OIDC is single sign-on with any OpenID Connect identity provider.
type OIDC struct {
	Issuer       string   `yaml:"issuer"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret"`
	RedirectURL  string   `yaml:"redirect_url"`
	Scopes       []string `yaml:"scopes"`
	// RoleClaim names the ID-token claim (a string or a list) that
	// RoleMap reads, e.g. "groups".
	RoleClaim      string        `yaml:"role_claim"`
	RoleMap        []RoleMapping `yaml:"role_map"`
	AllowedDomains []string      `yaml:"allowed_domains"`
}

// RoleMapping gives a role when the role claim holds Value.
type RoleMapping struct {
	Value string `yaml:"value"`
	Role  string `yaml:"role"`
	Org   string `yaml:"org"`
	Team  string `yaml:"team"` // "" for the whole organisation
}

// Provider is an upstream account: a wire protocol, a base URL and credentials.
type Provider struct {
	Name    string `yaml:"name"`
	Type    string `yaml:"type"`
	BaseURL string `yaml:"base_url"`
	// APIKey is a secret. It is never logged and never returned by an API.
	APIKey string `yaml:"api_key"`
	// Headers are extra headers sent upstream on every request.
	Headers map[string]string `yaml:"headers"`
	// APIKeys is a pool of keys used in turn, each with its own cooldown
	// (from the provider's 429 Retry-After); an alternative to api_key.
	APIKeys []string `yaml:"api_keys"`
	// Timeouts bound each attempt; zero values take the defaults.
	Timeouts Timeouts `yaml:"timeouts"`
	// RetryOn lists the upstream statuses that fail over to the next target
	// (default 408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529).
	RetryOn []int `yaml:"retry_on"`
	// InjectStreamUsage, for types openai and azure-openai (default true),
	// asks the upstream for a stream's usage chunk when the client did not
	// (stream_options.include_usage), so that the ledger bills the
	// provider's own counts; Sluice removes the chunk and the "usage":null
	// members before the client sees them. A server that answers 400
	// naming stream_options is asked again without it; set it to false to
	// skip that first try for such a server.
	InjectStreamUsage *bool `yaml:"inject_stream_usage"`

	// APIVersion is Azure OpenAI's api-version query parameter, or the
	// anthropic-version header for type anthropic (defaults apply).
	APIVersion string `yaml:"api_version"`
	// Region, and the AWS credentials, are for type bedrock. base_url may be
	// left out: it is derived from the region.
	Region             string `yaml:"region"`
	AWSAccessKeyID     string `yaml:"aws_access_key_id"`
	AWSSecretAccessKey string `yaml:"aws_secret_access_key"`
	AWSSessionToken    string `yaml:"aws_session_token"`
}

// Timeouts are per-attempt deadlines.
type Timeouts struct {
	// Connect bounds the TCP (and TLS) connection (default 5s).
	Connect Duration `yaml:"connect"`
	// FirstByte bounds the wait for the response headers (default 60s);
	// past it the attempt fails over.
	FirstByte Duration `yaml:"first_byte"`
	// Stall bounds the gap between two chunks of a stream (default 120s).
	Stall Duration `yaml:"stall"`
	// Total bounds the whole attempt, streaming included (default 10m).
	Total Duration `yaml:"total"`
}

// Model is a name clients ask for; it resolves to one or more targets
// under a routing policy, or to the targets of the first matching route.
type Model struct {
	Name    string   `yaml:"name"`
	Targets []Target `yaml:"targets"`
	Routing Routing  `yaml:"routing"`
	// Routes are conditional: the first whose match fits the request
	// chooses the targets; otherwise Targets serve.
	Routes  []Route `yaml:"routes"`
	Pricing Pricing `yaml:"pricing"`
	// Limits apply to all traffic to the model, whoever sends it.
	Limits `yaml:",inline"`
	// Guardrails (by name) and the response cache (guardrails.go).
	Guardrails []string    `yaml:"guardrails"`
	Cache      *ModelCache `yaml:"cache"`
	// Deprecation, sunset and successor (modellifecycle.go).
	ModelLifecycle `yaml:",inline"`
}

// Routing chooses among a model's targets.
type Routing struct {
	// Policy: weighted | priority | least-latency | least-inflight |
	// lowest-cost | canary (default priority: targets in order).
	Policy string `yaml:"policy"`
	// Sticky pins canary (A/B) assignment: "key" (default), "user" (the
	// request's user field), or "header:<name>" (a session header).
	Sticky string `yaml:"sticky"`
	// MaxAttempts bounds the targets tried per request (default: all of
	// them, at most 5).
	MaxAttempts int `yaml:"max_attempts"`
}

// Route is a conditional route.
type Route struct {
	Name    string   `yaml:"name"`
	Match   Match    `yaml:"match"`
	Targets []Target `yaml:"targets"`
	Routing Routing  `yaml:"routing"`
}

// Match selects requests by their metadata. All given conditions must hold.
type Match struct {
	// Headers must be present with these values ("*" matches any value).
	Headers map[string]string `yaml:"headers"`
	// Keys are key names; KeyTags match keys that carry any of the tags.
	Keys    []string `yaml:"keys"`
	KeyTags []string `yaml:"key_tags"`
	// MinMaxTokens matches requests asking for at least this many output tokens.
	MinMaxTokens int `yaml:"min_max_tokens"`
	// MinInputTokens matches prompts of at least this many tokens (estimated
	// as bytes / 4): the context-window fallback.
	MinInputTokens int `yaml:"min_input_tokens"`
	// HasTools and HasImages match the presence of tools or image inputs.
	HasTools  *bool `yaml:"has_tools"`
	HasImages *bool `yaml:"has_images"`
}

// Target is one upstream model at one provider.
type Target struct {
	Provider string `yaml:"provider"`
	Model    string `yaml:"model"`
	// Weight is the target's share under the weighted and canary policies.
	Weight int `yaml:"weight"`
}

// Pricing is in US dollars per million tokens.
type Pricing struct {
	InputPerMTok       float64 `yaml:"input_per_mtok"`
	OutputPerMTok      float64 `yaml:"output_per_mtok"`
	CachedInputPerMTok float64 `yaml:"cached_input_per_mtok"`
}

// Key is a virtual API key declared in the file. Its value is hashed when
// the file is compiled and the plaintext is dropped.
type Key struct {
	Name   string   `yaml:"name"`
	Key    string   `yaml:"key"`
	Models []string `yaml:"models"`
	// Tags are metadata (a team, an environment) that routes can match.
	Tags   []string `yaml:"tags"`
	Limits `yaml:",inline"`
	// Application is "org/team/application": the key belongs to it, and
	// its limits and those of its team and organisation apply too.
	Application string `yaml:"application"`
	// Endpoints, when set, restrict the key to these endpoint families:
	// chat, responses, messages, embeddings, gemini, count_tokens.
	Endpoints []string `yaml:"endpoints"`
	// SourceNetworks, when set, restrict the key to clients in these CIDRs.
	SourceNetworks []string `yaml:"source_networks"`
	// ExpiresAt, when set, is when the key stops working (RFC 3339).
	ExpiresAt *time.Time `yaml:"expires_at"`
	// Guardrails attached to the key's requests, by name.
	Guardrails []string `yaml:"guardrails"`
}

// Budget is a spend cap.
type Budget struct {
	AmountUSD float64 `yaml:"amount_usd"`
	// Period: daily, weekly, monthly or total (default monthly).
	Period string `yaml:"period"`
	// ReserveUSD, when set, is the amount reserved per request instead of
	// the worst case computed from the prompt and max_tokens.
	ReserveUSD float64 `yaml:"reserve_usd"`
	// AlertPercents are the shares of the budget (e.g. 50, 80, 100) whose
	// crossing is recorded and logged once per period.
	AlertPercents []int `yaml:"alert_percents"`
}

// Provider types known to this build.
const (
	TypeOpenAI      = "openai"
	TypeAzureOpenAI = "azure-openai"
	TypeAnthropic   = "anthropic"
	TypeGemini      = "gemini"
	TypeBedrock     = "bedrock"
	TypeDemo        = "demo"
)

// ProviderTypes lists the accepted values of providers[].type.
var ProviderTypes = []string{TypeOpenAI, TypeAzureOpenAI, TypeAnthropic, TypeGemini, TypeBedrock, TypeDemo}

// Default returns the configuration used when Sluice starts without a file:
// the built-in demo provider serving the models "demo" and "demo-embed".
func Default() *File {
	return &File{
		Version:   CurrentVersion,
		Providers: []Provider{{Name: "demo", Type: TypeDemo}},
		Models: []Model{
			{Name: "demo", Targets: []Target{{Provider: "demo", Model: "demo-chat"}}},
			{Name: "demo-embed", Targets: []Target{{Provider: "demo", Model: "demo-embed"}}},
		},
	}
}
