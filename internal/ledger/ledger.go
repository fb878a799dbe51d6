// Package ledger defines the usage ledger's records and the batched writer
// that moves them off the request path into the store.
//
// Every request that reaches Sluice leaves exactly one Entry, with one
// Attempt per upstream try. Entries are queued by the data plane and written
// by a single goroutine in group commits, so no request waits for the
// database. On Close the queue is drained: a graceful shutdown loses no entry.
// After a crash, at most the entries of the last commit window (FlushEvery)
// are lost; every committed entry stays intact.
package ledger

import "time"

// Status is the outcome of a request or of one upstream attempt.
type Status string

// Statuses, as stored and as shown by the admin API.
const (
	StatusOK            Status = "ok"
	StatusClientError   Status = "client_error"   // the client's request was refused (by Sluice or the upstream)
	StatusUpstreamError Status = "upstream_error" // the upstream failed or could not be reached
	StatusCancelled     Status = "cancelled"      // the client went away before the response ended
	StatusTruncated     Status = "truncated"      // the upstream stream ended without its terminal event
	StatusLimited       Status = "limited"        // Sluice's own limits refused the request (rate, concurrency, budget)
	StatusBlocked       Status = "blocked"        // a guardrail refused the request or ended its answer
)

// Entry is one client request.
type Entry struct {
	RequestID        string        `json:"request_id"`
	Time             time.Time     `json:"time"`
	Endpoint         string        `json:"endpoint"`
	KeyID            string        `json:"key_id,omitempty"`
	KeyName          string        `json:"key_name,omitempty"`
	OrgID            string        `json:"org_id,omitempty"`
	TeamID           string        `json:"team_id,omitempty"`
	AppID            string        `json:"app_id,omitempty"`
	Model            string        `json:"model,omitempty"`
	ServedModel      string        `json:"served_model,omitempty"`
	Provider         string        `json:"provider,omitempty"`
	Stream           bool          `json:"stream"`
	Status           Status        `json:"status"`
	HTTPStatus       int           `json:"http_status"`
	InputTokens      int64         `json:"input_tokens"`
	OutputTokens     int64         `json:"output_tokens"`
	CachedTokens     int64         `json:"cached_tokens"`
	CacheWriteTokens int64         `json:"cache_write_tokens"`
	ReasoningTokens  int64         `json:"reasoning_tokens"`
	Estimated        bool          `json:"estimated"`
	CostMicros       int64         `json:"cost_micros"`
	Latency          time.Duration `json:"-"`
	TTFT             time.Duration `json:"-"`
	Error            string        `json:"error,omitempty"`
	Attempts         []Attempt     `json:"attempts"`

	// What the request's steps decided (empty when a step did not apply).
	TraceID         string    `json:"trace_id,omitempty"`
	Product         string    `json:"product,omitempty"`
	ProductVersion  string    `json:"product_version,omitempty"`
	Plan            string    `json:"plan,omitempty"`
	SubscriptionID  string    `json:"subscription_id,omitempty"`
	Prompt          string    `json:"prompt,omitempty"`
	PromptVersion   int       `json:"prompt_version,omitempty"`
	PromptLabel     string    `json:"prompt_label,omitempty"`
	Experiment      string    `json:"experiment,omitempty"`
	Arm             string    `json:"arm,omitempty"`
	Cache           string    `json:"cache,omitempty"` // "hit", "miss" or "bypass"
	SavedCostMicros int64     `json:"saved_cost_micros,omitempty"`
	Guardrails      []Verdict `json:"guardrails,omitempty"`
}

// Verdict is what one guardrail did to a request: never the matched text.
type Verdict struct {
	Guardrail string `json:"guardrail"`
	Action    string `json:"action"` // mask, block or log
	Stage     string `json:"stage"`  // input or output
	Count     int    `json:"count"`
}

// Attempt is one try of a request against one upstream target.
type Attempt struct {
	N          int           `json:"n"`
	Provider   string        `json:"provider"`
	Model      string        `json:"model"`
	Status     Status        `json:"status"`
	HTTPStatus int           `json:"http_status"`
	Latency    time.Duration `json:"-"`
	TTFT       time.Duration `json:"-"`
	Error      string        `json:"error,omitempty"`
}
