package proxy

// The request chain: every data-plane request runs through the steps
// listed in (*Handler).steps, in that order, and the routes listed in
// (*Handler).Routes are the only way in.
//
// Adding a step (a product subscription check, prompt resolution, a
// trace span):
//   - write it in its own file, internal/proxy/<topic>.go, as a type with
//     Name() and Serve(ctx, c, next); a step that does not apply to the
//     request returns next(ctx, c) at once;
//   - add one line for it to the list in steps, at the place where it runs.
//
// What a step may do with the *Call:
//   - read or change the request's state: c.key (after authenticate),
//     c.fs (after resolve: the body, the peeked fields, the model), c.entry
//     (the ledger entry being built: set its fields, never record it);
//   - refuse: return an *Error (or an *llm.Error); settle_and_record renders
//     it in the client's dialect (OpenAI, Anthropic or Gemini JSON), with the
//     request id, and records it;
//   - set response headers: c.w.Header().Set(...), before anything is
//     written;
//   - wrap the response writer: replace c.w before calling next (and put the
//     old one back after, if the step's wrapper must not see an error
//     rendered later); every later step, the relay included, writes to c.w;
//   - run code after the rest of the chain: whatever Serve does after next
//     returns runs in reverse order of the list.
//
// A context a step passes to next reaches the upstream request.
//
// Adding a route: one line in Routes, a pattern and an ingress (ingress.go
// declares each client protocol's ingress: its ledger endpoint name, its
// key header, its resolve and serve stages). A product's base URL serves
// the same ingresses under a prefix: h.under("/products/{product}/{version}")
// returns every API route of the table under that prefix; a step reads the
// prefix's values with c.r.PathValue("product").

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

// Next runs the rest of the chain.
type Next func(ctx context.Context, c *Call) error

// A Step is one stage of the request chain.
type Step interface {
	// Name is the step's name in the list, in logs and in benchmarks.
	Name() string
	// Serve does the step's work and calls next to run the rest of the
	// chain, or returns an error to refuse the request.
	Serve(ctx context.Context, c *Call, next Next) error
}

// steps is the chain, in order. settle_and_record is listed second because
// it wraps every later step: it runs its part (render an error, record the
// ledger entry, settle the admissions) after they all returned, so it ends
// the request last whatever happened.
func (h *Handler) steps() []Step {
	return []Step{
		stepFunc{"requestid", requestID},
		stepFunc{"trace", h.traceStep},       // trace.go: the SERVER span, ended after settle_and_record
		stepFunc{"remember", h.rememberStep}, // feedback.go: who made the request, for feedback on it
		stepFunc{"settle_and_record", h.settle},
		stepFunc{"authenticate", h.authenticateStep},
		stepFunc{"prompt", h.promptStep}, // prompts.go: renders a stored prompt into the request
		stepFunc{"product_alias", h.productAlias},
		stepFunc{"resolve", h.resolve},
		stepFunc{"model_lifecycle", h.modelLifecycleStep},
		stepFunc{"product", h.productStep}, // products.go: subscription, plan, deprecation, emergency stop
		stepFunc{"capture", h.captureStep}, // capture.go: request_log's bodies, redacted
		stepFunc{"admit", h.admitStep},
		stepFunc{"experiment", h.experimentStep},         // experiments.go: the experiment arm, sticky per unit
		stepFunc{"guard_input", h.guardInput},            // guardrails.go; guard_output runs in the relay
		stepFunc{"cache_lookup", h.cacheLookup},          // cachestep.go
		stepFunc{"route_and_attempt", h.routeAndAttempt}, // relays too: tap, then the client's writer
	}
}

// stepFunc is a Step made of a function.
type stepFunc struct {
	name string
	fn   func(ctx context.Context, c *Call, next Next) error
}

func (s stepFunc) Name() string                                        { return s.name }
func (s stepFunc) Serve(ctx context.Context, c *Call, next Next) error { return s.fn(ctx, c, next) }

// compose links the steps into one Next, once: a request then costs one
// indirect call per step.
func compose(steps []Step) Next {
	next := Next(func(context.Context, *Call) error { return nil })
	for i := len(steps) - 1; i >= 0; i-- {
		s, rest := steps[i], next
		next = func(ctx context.Context, c *Call) error { return s.Serve(ctx, c, rest) }
	}
	return next
}

// Route is a data-plane route.
type Route struct {
	Pattern string
	Handler http.Handler
}

// Register adds the data-plane routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	for _, rt := range h.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
}

// apiRoutes are the client APIs, by pattern: the routes a prefix serves
// too.
var apiRoutes = []struct {
	pattern string
	in      *ingress
}{
	{"POST /v1/chat/completions", inChat},
	{"POST /v1/embeddings", inEmb},
	{"GET /v1/models", inModels},
	{"POST /v1/responses", inResponses},
	{"POST /v1/messages", inMessages},
	{"POST /v1/messages/count_tokens", inCount},
	{"POST /v1beta/models/{rest...}", inGemini},
	{"POST /prompts/{prompt}", inPrompt}, // prompts.go
	{"GET /prompts/{prompt}/openapi.json", inPromptSchema},
}

// Routes lists every data-plane route: the one table that tests check
// against, so that no route escapes authentication.
func (h *Handler) Routes() []Route {
	routes := h.under("")
	routes = append(routes, h.productRoutes()...) // products.go: every version's base URL
	routes = append(routes,
		Route{"GET /v1/sluice/usage", h.endpoint(inUsage)},
		Route{"POST /v1/sluice/feedback", h.endpoint(inFeedback)},
		Route{"/v1/", h.endpoint(inUnknown)},
	)
	return routes
}

// under returns the client APIs under a path prefix (such as a product's
// "/products/{product}/{version}"), served by the same ingresses and the
// same chain.
func (h *Handler) under(prefix string) []Route {
	routes := make([]Route, 0, len(apiRoutes))
	for _, ar := range apiRoutes {
		method, path, _ := strings.Cut(ar.pattern, " ")
		routes = append(routes, Route{method + " " + prefix + path, h.endpoint(ar.in)})
	}
	return routes
}

// endpoint serves an ingress through the chain.
func (h *Handler) endpoint(in *ingress) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &Call{in: in, start: time.Now(), w: w, r: r}
		c.entry.Endpoint = in.endpoint
		_ = h.chain(r.Context(), c)
	})
}

// requestID names the request; the id is in the X-Request-Id header, in
// error bodies and in the ledger.
func requestID(ctx context.Context, c *Call, next Next) error {
	c.id = newRequestID()
	c.w.Header()["X-Request-Id"] = oneValue(&c.idVal, c.id)
	return next(ctx, c)
}

// settle runs the rest of the chain and ends the request: an error is
// rendered in the client's dialect (unless a response was started), a
// panic is recovered (500), and exactly one ledger entry is recorded per
// request that authenticated; refusals before authentication are counted
// and logged in aggregate instead (refusedUnauthenticated).
func (h *Handler) settle(ctx context.Context, c *Call, next Next) error {
	w := c.w // errors go to the client's writer, not to a later step's wrapper
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler { // the client connection is gone
				c.entry.Status, c.entry.HTTPStatus, c.entry.Error = ledger.StatusCancelled, 499, "client connection aborted"
				h.finish(c)
				panic(p)
			}
			h.log.Error("panic in handler", "request_id", c.id, "panic", p) // the body is never logged
			if !c.wrote {
				h.writeError(w, c, asError(nil))
			}
			c.entry.Status, c.entry.HTTPStatus, c.entry.Error = ledger.StatusUpstreamError, 500, "internal error"
			h.finish(c)
		}
	}()
	if err := next(ctx, c); err != nil {
		status, msg := http.StatusInternalServerError, "internal error"
		if !c.wrote {
			status, msg = h.writeError(w, c, err)
		}
		if c.entry.HTTPStatus == 0 {
			c.entry.HTTPStatus = status
		}
		if c.entry.Status == "" {
			c.entry.Status = statusOf(status)
		}
		if c.entry.Error == "" {
			c.entry.Error = msg
		}
		if c.key == nil {
			c.refusal = asError(err).Code
		}
		if status >= 500 {
			h.log.Warn("request failed", "request_id", c.id, "trace_id", c.entry.TraceID, "status", status, "err", err)
		}
	}
	h.finish(c)
	return nil
}

// authenticateStep resolves the key; nothing after it runs without one.
func (h *Handler) authenticateStep(ctx context.Context, c *Call, next Next) error {
	if err := h.authenticate(c.r, c); err != nil {
		return err
	}
	return next(ctx, c)
}

// resolve runs the ingress's own reading of the request: the body, the
// model it names (c.fs), and the ingress's checks.
func (h *Handler) resolve(ctx context.Context, c *Call, next Next) error {
	if c.in.resolve != nil {
		if err := c.in.resolve(h, c); err != nil {
			return err
		}
	}
	return next(ctx, c)
}

// admitStep applies the limits and budgets of every level (limits.go) to a
// request that will reach an upstream.
func (h *Handler) admitStep(ctx context.Context, c *Call, next Next) error {
	if c.fs != nil && !c.fs.local {
		if err := h.admit(c.w, c.r, c, c.fs); err != nil {
			return err
		}
	}
	return next(ctx, c)
}

// routeAndAttempt answers the request: the ingress's own serve stage, or
// the model's route tried target by target (forward.go), each answer
// relayed through the stream tap to the client (relaybody.go, forward.go).
func (h *Handler) routeAndAttempt(ctx context.Context, c *Call, next Next) error {
	if ctx != c.r.Context() {
		c.r = c.r.WithContext(ctx)
	}
	var err error
	if c.in.serve != nil {
		err = c.in.serve(h, c)
	} else {
		err = h.forward(c.w, c.r, c, c.fs)
	}
	if err != nil {
		return err
	}
	return next(ctx, c)
}
