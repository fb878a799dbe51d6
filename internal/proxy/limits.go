package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/ratelimit"
)

// defaultMaxTokens is the output assumed for a budget reservation when the
// request sets no max_tokens.
const defaultMaxTokens = 4096

// admit applies the key's limits and reserves its worst-case cost. Every
// endpoint that reaches an upstream goes through here.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, c *call, fs *forwardSpec) error {
	lim := c.key.Limits
	if h.opts.Limiter == nil || lim == (ratelimit.Limits{}) {
		return nil
	}
	var worst int64
	if lim.BudgetMicros > 0 {
		if err := h.seed(r, c.key.ID, lim.BudgetPeriod); err != nil {
			return &Error{Status: http.StatusServiceUnavailable, Type: oa.TypeServer, Code: "budget_unavailable",
				Msg: "The key's budget could not be read; try again.", Cause: err}
		}
		worst = c.key.ReserveMicros
		if worst <= 0 {
			out := requestedMaxTokens(fs.body)
			if out <= 0 {
				out = defaultMaxTokens
			}
			worst = fs.model.Price.Cost(meter.Usage{InputTokens: int64(len(fs.body))/3 + 1, OutputTokens: out})
		}
	}
	t, d := h.opts.Limiter.Admit(c.key.ID, lim, worst)
	hdr := w.Header()
	if lim.RPM > 0 {
		u := h.opts.Limiter.Usage(c.key.ID)
		hdr.Set("X-Ratelimit-Limit-Requests", strconv.FormatInt(lim.RPM, 10))
		hdr.Set("X-Ratelimit-Remaining-Requests", strconv.FormatInt(max(lim.RPM-u.RequestsThisMinute, 0), 10))
	}
	if lim.TPM > 0 {
		u := h.opts.Limiter.Usage(c.key.ID)
		hdr.Set("X-Ratelimit-Limit-Tokens", strconv.FormatInt(lim.TPM, 10))
		hdr.Set("X-Ratelimit-Remaining-Tokens", strconv.FormatInt(max(lim.TPM-u.TokensThisMinute, 0), 10))
	}
	if d != nil {
		if d.RetryAfter > 0 {
			hdr.Set("Retry-After", strconv.FormatInt(int64((d.RetryAfter+time.Second-1)/time.Second), 10))
		}
		if d.Reset > 0 {
			hdr.Set("X-Ratelimit-Reset-"+resetName(d.Limit), d.Reset.Round(time.Millisecond).String())
		}
		code := "rate_limit_exceeded"
		if d.Limit == "budget" {
			code = "budget_exceeded"
		}
		return &Error{Status: http.StatusTooManyRequests, Type: oa.TypeRateLimit, Code: code, Msg: d.Message}
	}
	c.ticket = t
	return nil
}

func resetName(limit string) string {
	if limit == "tokens" {
		return "Tokens"
	}
	return "Requests"
}

// seed loads a key's spend in the current budget period from the ledger,
// once per key per process; concurrent first requests wait for one read.
func (h *Handler) seed(r *http.Request, keyID string, p ratelimit.Period) error {
	if h.opts.Limiter.Seeded(keyID) || h.opts.SpendSince == nil {
		return nil
	}
	mu, _ := h.seeds.LoadOrStore(keyID, &sync.Mutex{})
	m := mu.(*sync.Mutex)
	m.Lock()
	defer m.Unlock()
	if h.opts.Limiter.Seeded(keyID) {
		return nil
	}
	start := p.Start(time.Now())
	spent, err := h.opts.SpendSince(r.Context(), keyID, start)
	if err != nil {
		return err
	}
	h.opts.Limiter.Seed(keyID, spent, start)
	return nil
}

// usageView is the body of GET /v1/sluice/usage.
type usageView struct {
	Object string `json:"object"`
	Key    struct {
		ID        string     `json:"id"`
		Name      string     `json:"name"`
		Models    []string   `json:"models"`
		ExpiresAt *time.Time `json:"expires_at,omitempty"`
	} `json:"key"`
	Limits struct {
		RPM           int64 `json:"rpm"`
		TPM           int64 `json:"tpm"`
		MaxConcurrent int64 `json:"max_concurrent"`
	} `json:"limits"`
	Usage struct {
		RequestsThisMinute int64 `json:"requests_this_minute"`
		TokensThisMinute   int64 `json:"tokens_this_minute"`
		Concurrent         int64 `json:"concurrent"`
	} `json:"usage"`
	Budget *budgetView `json:"budget,omitempty"`
}

type budgetView struct {
	Period          string     `json:"period"`
	AmountMicros    int64      `json:"amount_micros"`
	SpentMicros     int64      `json:"spent_micros"`
	ReservedMicros  int64      `json:"reserved_micros"`
	RemainingMicros int64      `json:"remaining_micros"`
	PeriodStart     time.Time  `json:"period_start,omitzero"`
	ResetsAt        *time.Time `json:"resets_at,omitempty"`
}

// selfUsage lets a key read its own limits and consumption, without admin
// rights.
func (h *Handler) selfUsage(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := h.authenticate(r, c); err != nil {
		return err
	}
	k := c.key
	var v usageView
	v.Object = "sluice.usage"
	v.Key.ID, v.Key.Name, v.Key.Models = k.ID, k.Name, []string{}
	for _, m := range c.snap.ModelNames {
		if k.Allows(m) {
			v.Key.Models = append(v.Key.Models, m)
		}
	}
	if !k.ExpiresAt.IsZero() {
		v.Key.ExpiresAt = &k.ExpiresAt
	}
	v.Limits.RPM, v.Limits.TPM, v.Limits.MaxConcurrent = k.Limits.RPM, k.Limits.TPM, k.Limits.MaxConcurrent
	if h.opts.Limiter != nil {
		if k.Limits.BudgetMicros > 0 {
			if err := h.seed(r, k.ID, k.Limits.BudgetPeriod); err != nil {
				return err
			}
		}
		u := h.opts.Limiter.Usage(k.ID)
		v.Usage.RequestsThisMinute, v.Usage.TokensThisMinute, v.Usage.Concurrent = u.RequestsThisMinute, u.TokensThisMinute, u.Concurrent
		if k.Limits.BudgetMicros > 0 {
			b := &budgetView{Period: string(k.Limits.BudgetPeriod), AmountMicros: k.Limits.BudgetMicros, SpentMicros: u.SpentMicros,
				ReservedMicros: u.ReservedMicros, RemainingMicros: max(k.Limits.BudgetMicros-u.SpentMicros-u.ReservedMicros, 0),
				PeriodStart: u.PeriodStart}
			if end := k.Limits.BudgetPeriod.End(time.Now()); !end.IsZero() {
				b.ResetsAt = &end
			}
			v.Budget = b
		}
	}
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	c.wrote = true
	c.entry.HTTPStatus = http.StatusOK
	_, _ = w.Write(body)
	return nil
}
