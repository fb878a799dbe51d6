package proxy

// The model lifecycle step: a model with a deprecation date carries the
// Deprecation (RFC 9745), Sunset (RFC 8594) and Link headers on every
// response, as a deprecated product version does; after its sunset the
// model is refused 410 Gone naming its successor or, with on_sunset:
// redirect, served by its successor, the x-sluice-model-redirect header
// saying so. The ledger's Model stays the model the client asked for.

import (
	"context"
	"net/http"
	"time"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/product"
	"github.com/sluicehq/sluice/internal/runtime"
)

// modelLifecycleStep runs right after resolve.
func (h *Handler) modelLifecycleStep(ctx context.Context, c *Call, next Next) error {
	if c.fs == nil || c.fs.model == nil || c.fs.model.Lifecycle == nil {
		return next(ctx, c)
	}
	m := c.fs.model
	l := m.Lifecycle
	for k, vs := range l.Dates.Headers(modelLinks(baseURL(c.r), l)) {
		c.w.Header()[k] = vs
	}
	if !l.SunsetPassed(time.Now()) {
		return next(ctx, c)
	}
	succ := l.Dates.Successor
	if l.Redirect {
		if s := c.snap.Models[succ]; s != nil && c.key != nil && c.key.Allows(succ) {
			c.w.Header().Set("X-Sluice-Model-Redirect", m.Name+" -> "+succ)
			c.fs.model = s
			return next(ctx, c)
		}
	}
	return modelGone(m.Name, l)
}

// modelGone is the 410 of a model past its sunset, naming its successor.
func modelGone(name string, l *runtime.ModelLifecycle) error {
	msg := "The model " + name + " was retired on " + product.SunsetValue(*l.Dates.SunsetAt) + "."
	if s := l.Dates.Successor; s != "" {
		msg += " Use its successor, " + s + "."
	}
	return &Error{Status: http.StatusGone, Type: oa.TypeInvalidRequest, Code: "model_sunset", Param: "model", Msg: msg}
}

// modelLinks are a retiring model's Link targets: its deprecation notice
// (for rel="deprecation" and rel="sunset") and its successor's model URL.
func modelLinks(base string, l *runtime.ModelLifecycle) product.Links {
	ls := product.Links{Deprecation: l.Link, Sunset: l.Link}
	if l.Dates.Successor != "" {
		ls.Successor = base + "/v1/models/" + l.Dates.Successor
	}
	return ls
}
