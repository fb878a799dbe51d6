// Package product is the domain of API products: a product owned by a
// team, its versions (immutable published snapshots of what it exposes),
// its plans (limits, quota, approval, duration) and the subscriptions of
// applications to a plan. It holds the state machines of versions and
// subscriptions as transition tables, the Deprecation, Sunset and Link
// headers of RFC 9745, RFC 8594 and RFC 5829, and the OpenAPI document of
// a published version. It has no storage and no HTTP server: the store,
// the admin API, the runtime snapshot and the data plane use it.
package product

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Visibility says who may discover a product.
type Visibility string

// Visibilities.
const (
	Private  Visibility = "private"  // its owning team
	Internal Visibility = "internal" // its organisation
	Public   Visibility = "public"   // every organisation of this Sluice
)

// Visibilities lists the accepted visibilities.
var Visibilities = []Visibility{Private, Internal, Public}

// Approval says how a subscription request to a plan becomes active.
type Approval string

// Approvals.
const (
	Auto   Approval = "auto"
	Manual Approval = "manual"
)

// Endpoint families a version may expose (as keys[].endpoints in the file).
const (
	EndpointChat      = "chat"
	EndpointResponses = "responses"
	EndpointMessages  = "messages"
	EndpointGemini    = "gemini"
)

// Endpoints lists the endpoint families a version may expose; a version
// that names none exposes all of them.
var Endpoints = []string{EndpointChat, EndpointResponses, EndpointMessages, EndpointGemini}

// Product is an API product owned by a team.
type Product struct {
	Name        string     `json:"name"`
	Title       string     `json:"title,omitempty"`
	Description string     `json:"description,omitempty"` // Markdown
	Tags        []string   `json:"tags,omitempty"`
	Visibility  Visibility `json:"visibility"`
	// Team is the owning team as "org/team".
	Team string `json:"team"`
	// PublishApproval: publishing a version needs a second person.
	PublishApproval bool `json:"publish_approval,omitempty"`
}

// Version is one version of a product: what it exposes and its life.
type Version struct {
	Version string       `json:"version"`
	State   VersionState `json:"state"`
	// Models maps the names clients send to Sluice models.
	Models map[string]string `json:"models"`
	// Prompts are the prompt APIs the version exposes, by name.
	Prompts []string `json:"prompts,omitempty"`
	// Endpoints are the endpoint families exposed (nil: all of Endpoints).
	Endpoints []string `json:"endpoints,omitempty"`
	// Docs is the version's documentation: Markdown, or a URL (an https://
	// URL is also the target of the Link rel="deprecation").
	Docs         string     `json:"docs,omitempty"`
	DeprecatedAt *time.Time `json:"deprecated_at,omitempty"`
	SunsetAt     *time.Time `json:"sunset_at,omitempty"`
	// Successor names the version that replaces this one.
	Successor string `json:"successor,omitempty"`
}

// Exposes reports whether the version exposes the endpoint family.
func (v *Version) Exposes(family string) bool {
	if len(v.Endpoints) == 0 {
		return slices.Contains(Endpoints, family)
	}
	return slices.Contains(v.Endpoints, family)
}

// ClientModels returns the names clients may send, sorted.
func (v *Version) ClientModels() []string {
	out := make([]string, 0, len(v.Models))
	for m := range v.Models {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// Plan is a way to subscribe to a product: limits, quota and approval.
type Plan struct {
	Name          string `json:"name"`
	RPM           int64  `json:"rpm,omitempty"`
	TPM           int64  `json:"tpm,omitempty"`
	MaxConcurrent int64  `json:"max_concurrent,omitempty"`
	// BudgetMicros caps spend per BudgetPeriod (daily, weekly, monthly, total).
	BudgetMicros int64  `json:"budget_micros,omitempty"`
	BudgetPeriod string `json:"budget_period,omitempty"`
	// Quota caps requests per QuotaPeriod (daily, weekly, monthly, total).
	Quota       int64  `json:"quota,omitempty"`
	QuotaPeriod string `json:"quota_period,omitempty"`
	// Versions the plan allows (nil: every version).
	Versions []string `json:"versions,omitempty"`
	Approval Approval `json:"approval"`
	// Duration of a subscription from its activation (0: no end).
	Duration time.Duration `json:"duration,omitempty"`
}

// AllowsVersion reports whether the plan allows the version.
func (p *Plan) AllowsVersion(v string) bool {
	return len(p.Versions) == 0 || slices.Contains(p.Versions, v)
}

// Subscription is an application's subscription to a product plan.
type Subscription struct {
	ID          string     `json:"id"`
	Application string     `json:"application"` // the application's id
	Product     string     `json:"product"`
	Plan        string     `json:"plan"`
	State       SubState   `json:"state"`
	Reason      string     `json:"reason,omitempty"`
	Note        string     `json:"note,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
}

// Expired reports whether the subscription's end has come at now.
func (s *Subscription) Expired(now time.Time) bool {
	return s.ExpiresAt != nil && !now.Before(*s.ExpiresAt)
}

var (
	// ErrSunsetBeforeDeprecation refuses a sunset earlier than the deprecation.
	ErrSunsetBeforeDeprecation = errors.New("sunset_at is earlier than deprecated_at")
	// ErrTransition refuses a transition the state machine does not have.
	ErrTransition = errors.New("transition not allowed")
)

// ValidateDates checks a version's deprecation and sunset: a sunset
// earlier than the deprecation is refused, and so is a successor equal to
// the version itself.
func (v *Version) ValidateDates() error {
	if v.DeprecatedAt != nil && v.SunsetAt != nil && v.SunsetAt.Before(*v.DeprecatedAt) {
		return ErrSunsetBeforeDeprecation
	}
	if v.Successor != "" && v.Successor == v.Version {
		return errors.New("a version cannot succeed itself")
	}
	return nil
}

// ValidName reports whether s names a product, version or plan: 1-64
// letters, digits, '-', '_' or '.' (they appear in URL paths).
func ValidName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		ok := r == '-' || r == '_' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return false
		}
	}
	return s != "." && s != ".."
}

// ValidPeriod reports whether p is a budget or quota period ("" included).
func ValidPeriod(p string) bool {
	switch p {
	case "", "daily", "weekly", "monthly", "total":
		return true
	}
	return false
}

// Validate checks a plan's values.
func (p *Plan) Validate() error {
	var errs []string
	if !ValidName(p.Name) {
		errs = append(errs, "name must be 1-64 letters, digits, '-', '_' or '.'")
	}
	if p.RPM < 0 || p.TPM < 0 || p.MaxConcurrent < 0 || p.BudgetMicros < 0 || p.Quota < 0 || p.Duration < 0 {
		errs = append(errs, "limits, quota and duration must not be negative")
	}
	if !ValidPeriod(p.BudgetPeriod) || !ValidPeriod(p.QuotaPeriod) {
		errs = append(errs, "periods must be daily, weekly, monthly or total")
	}
	switch p.Approval {
	case Auto, Manual:
	default:
		errs = append(errs, "approval must be auto or manual")
	}
	if len(errs) > 0 {
		return fmt.Errorf("plan %q: %s", p.Name, strings.Join(errs, "; "))
	}
	return nil
}

// ValidEndpoint reports whether e is an endpoint family a version may expose.
func ValidEndpoint(e string) bool { return slices.Contains(Endpoints, e) }
