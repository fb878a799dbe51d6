package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/runtime"
)

// defaultMaxTokens is the output assumed for a budget reservation when the
// request sets no max_tokens.
const defaultMaxTokens = 4096

// subjects lists the levels whose limits apply to a request: its key,
// application, team, organisation (compiled on the key) and model, in that
// order. Levels without limits are left out.
func subjects(c *Call, model *runtime.Model) []runtime.Level {
	lv := c.key.Levels
	if model != nil && model.Level != nil {
		return append(lv[:len(lv):len(lv)], *model.Level)
	}
	return lv
}

// admit applies every level's limits and reserves the request's worst-case
// cost at each level with a budget, all or none. Every endpoint that
// reaches an upstream goes through here.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, c *Call, fs *forwardSpec) error {
	if err := h.admitLedger(r); err != nil {
		return err
	}
	if h.opts.Limiter == nil {
		return nil
	}
	levels := subjects(c, fs.model)
	if len(levels) == 0 {
		return nil
	}
	var worst int64 = -1
	// The subjects live on the stack for the usual levels (key,
	// application, team, organisation, model).
	var stack [8]ratelimit.Subject
	subs := stack[:0]
	if len(levels) > len(stack) {
		subs = make([]ratelimit.Subject, 0, len(levels))
	}
	subs = subs[:len(levels)]
	for i, lv := range levels {
		if lv.Subject.Limits.BudgetMicros > 0 {
			if err := h.seed(r, lv, lv.Subject.Limits.BudgetPeriod); err != nil {
				return &Error{Status: http.StatusServiceUnavailable, Type: oa.TypeServer, Code: "budget_unavailable",
					Msg: "The budget could not be read; try again.", Cause: err}
			}
			if lv.Reserve > 0 {
				lv.Subject.WorstMicros = lv.Reserve
			} else {
				if worst < 0 {
					out := fs.maxTokens()
					if out <= 0 {
						out = defaultMaxTokens
					}
					worst = fs.model.Price.Cost(meter.Usage{InputTokens: int64(len(fs.body))/3 + 1, OutputTokens: out})
				}
				lv.Subject.WorstMicros = worst
			}
		}
		subs[i] = lv.Subject
	}
	ts, refused, d := h.opts.Limiter.AdmitAll(subs)
	hdr := w.Header()
	h.rateLimitHeaders(hdr, &c.limitVals, subs, refused)
	if d != nil {
		if d.RetryAfter > 0 {
			hdr.Set("Retry-After", strconv.FormatInt(int64((d.RetryAfter+time.Second-1)/time.Second), 10))
		}
		if d.Reset > 0 {
			hdr.Set("X-Ratelimit-Reset-"+resetName(d.Limit), d.Reset.Round(time.Millisecond).String())
		}
		code, msg := "rate_limit_exceeded", d.Message
		switch d.Limit {
		case "budget":
			code = "budget_exceeded"
			msg = budgetMessage(subs[refused], h.opts.Limiter.Usage(subs[refused].ID), d.Message)
		case "quota":
			code = "quota_exceeded"
		}
		// Sluice refused, not the provider: the ledger says so.
		c.entry.Status = ledger.StatusLimited
		return &Error{Status: http.StatusTooManyRequests, Type: oa.TypeRateLimit, Code: code, Msg: msg}
	}
	c.tickets = ts
	return nil
}

// rateLimitHeaders sets the x-ratelimit-* headers: they describe the
// refusing level (refused >= 0), else the first level with a request or
// token limit. The values are kept in vals (the call's own).
func (h *Handler) rateLimitHeaders(hdr http.Header, vals *[4]string, subs []ratelimit.Subject, refused int) {
	shown := refused
	if shown < 0 {
		shown = slices.IndexFunc(subs, func(s ratelimit.Subject) bool { return s.Limits.RPM > 0 || s.Limits.TPM > 0 })
	}
	if shown >= 0 {
		lim := subs[shown].Limits
		if lim.RPM > 0 || lim.TPM > 0 {
			u := h.opts.Limiter.Usage(subs[shown].ID)
			// The numbers are formatted into one string and the values
			// live in vals; each header is replaced, as Set does, by a
			// capped slice.
			var digits [4 * 20]byte
			var names [4]string
			var ends [4]int
			b, n := digits[:0], 0
			add := func(k string, v int64) { b = strconv.AppendInt(b, v, 10); names[n], ends[n] = k, len(b); n++ }
			if lim.RPM > 0 {
				add("X-Ratelimit-Limit-Requests", lim.RPM)
				add("X-Ratelimit-Remaining-Requests", max(lim.RPM-u.RequestsThisMinute, 0))
			}
			if lim.TPM > 0 {
				add("X-Ratelimit-Limit-Tokens", lim.TPM)
				add("X-Ratelimit-Remaining-Tokens", max(lim.TPM-u.TokensThisMinute, 0))
			}
			all, start := string(b), 0
			for i := range n {
				vals[i], start = all[start:ends[i]], ends[i]
				hdr[names[i]] = vals[i : i+1 : i+1]
			}
		}
	}
}

// budgetMessage explains a budget refusal. When the budget has room left
// but this request's reservation does not fit in it, it says so, rather
// than "spent $0.27 of $1", which reads as a bug; a budget that is spent,
// or fully reserved by requests in progress, keeps the limiter's message.
func budgetMessage(s ratelimit.Subject, u ratelimit.Usage, exhausted string) string {
	lim := s.Limits.BudgetMicros
	if u.SpentMicros+u.ReservedMicros >= lim || s.WorstMicros <= 0 {
		return exhausted
	}
	scope := s.Scope
	if scope == "" {
		scope = "key"
	}
	msg := fmt.Sprintf("Reserving %s for this request would exceed the %s's budget: spent %s of %s this period",
		dollars(s.WorstMicros), scope, dollars(u.SpentMicros), dollars(lim))
	if u.ReservedMicros > 0 {
		msg += fmt.Sprintf(", %s more reserved by requests in progress", dollars(u.ReservedMicros))
	}
	return msg + ". Lower max_tokens, or wait for requests in progress to finish."
}

// dollars renders micro-dollars as "$0.25".
func dollars(micros int64) string {
	return "$" + strconv.FormatFloat(float64(micros)/1e6, 'f', -1, 64)
}

func resetName(limit string) string {
	if limit == "tokens" {
		return "Tokens"
	}
	return "Requests"
}

// seed loads a level's spend in the current budget period from the ledger,
// once per subject per process; concurrent first requests wait for one
// read.
func (h *Handler) seed(r *http.Request, lv runtime.Level, p ratelimit.Period) error {
	id := lv.Subject.ID
	// A request quota counts requests, not the ledger's spend: no seed.
	if lv.Subject.Limits.CountsRequests || h.opts.Limiter.Seeded(id) || h.opts.SpendSince == nil {
		return nil
	}
	mu, _ := h.seeds.LoadOrStore(id, &sync.Mutex{})
	m := mu.(*sync.Mutex)
	m.Lock()
	defer m.Unlock()
	if h.opts.Limiter.Seeded(id) {
		return nil
	}
	start := p.Start(time.Now())
	spent, err := h.opts.SpendSince(r.Context(), lv.Column, lv.LedgerID, start)
	if err != nil {
		return err
	}
	h.opts.Limiter.Seed(id, spent, start)
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
	Limits limitsJSON  `json:"limits"`
	Usage  usageJSON   `json:"usage"`
	Budget *budgetView `json:"budget,omitempty"`
	// Levels are the limits above the key (application, team,
	// organisation) and the shared consumption against them.
	Levels []levelView `json:"levels"`
}

// limitsJSON and usageJSON are a subject's limits and consumption.
type limitsJSON struct {
	RPM           int64 `json:"rpm"`
	TPM           int64 `json:"tpm"`
	MaxConcurrent int64 `json:"max_concurrent"`
}

type usageJSON struct {
	RequestsThisMinute int64 `json:"requests_this_minute"`
	TokensThisMinute   int64 `json:"tokens_this_minute"`
	Concurrent         int64 `json:"concurrent"`
}

// levelView is one level's limits and consumption in GET /v1/sluice/usage.
type levelView struct {
	Scope  string      `json:"scope"`
	ID     string      `json:"id"`
	Name   string      `json:"name"`
	Limits limitsJSON  `json:"limits"`
	Usage  usageJSON   `json:"usage"`
	Budget *budgetView `json:"budget,omitempty"`
}

// budgetOf describes a budget from a subject's usage.
func budgetOf(lim ratelimit.Limits, u ratelimit.Usage) *budgetView {
	if lim.BudgetMicros <= 0 {
		return nil
	}
	b := &budgetView{Period: string(lim.BudgetPeriod), AmountMicros: lim.BudgetMicros, SpentMicros: u.SpentMicros,
		ReservedMicros: u.ReservedMicros, RemainingMicros: max(lim.BudgetMicros-u.SpentMicros-u.ReservedMicros, 0),
		PeriodStart: u.PeriodStart}
	if end := lim.BudgetPeriod.End(time.Now()); !end.IsZero() {
		b.ResetsAt = &end
	}
	return b
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
func (h *Handler) selfUsage(c *Call) error {
	w, r := c.w, c.r
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
			if err := h.seed(r, runtime.Level{Column: "key_id", LedgerID: k.ID, Subject: ratelimit.Subject{ID: k.ID}}, k.Limits.BudgetPeriod); err != nil {
				return err
			}
		}
		u := h.opts.Limiter.Usage(k.ID)
		v.Usage.RequestsThisMinute, v.Usage.TokensThisMinute, v.Usage.Concurrent = u.RequestsThisMinute, u.TokensThisMinute, u.Concurrent
		v.Budget = budgetOf(k.Limits, u)
	}
	v.Levels = []levelView{}
	for _, lv := range subjects(c, nil) {
		if lv.Column == "key_id" {
			continue
		}
		unit := c.snap.Unit(lv.Subject.ID)
		l := levelView{Scope: lv.Subject.Scope, ID: unit.ID, Name: unit.Path}
		lim := lv.Subject.Limits
		l.Limits.RPM, l.Limits.TPM, l.Limits.MaxConcurrent = lim.RPM, lim.TPM, lim.MaxConcurrent
		if h.opts.Limiter != nil {
			if lim.BudgetMicros > 0 {
				if err := h.seed(r, lv, lim.BudgetPeriod); err != nil {
					return err
				}
			}
			u := h.opts.Limiter.Usage(unit.ID)
			l.Usage.RequestsThisMinute, l.Usage.TokensThisMinute, l.Usage.Concurrent = u.RequestsThisMinute, u.TokensThisMinute, u.Concurrent
			l.Budget = budgetOf(lim, u)
		}
		v.Levels = append(v.Levels, l)
	}
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	c.wrote = true
	c.entry.HTTPStatus = http.StatusOK
	_, _ = w.Write(body)
	return nil
}
