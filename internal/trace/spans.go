package trace

import (
	"context"
	"net/http"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/provider"
)

// Sluice's own span attributes.
const (
	AttrRequestID      = attribute.Key("sluice.request_id")
	AttrEndpoint       = attribute.Key("sluice.endpoint")
	AttrRoute          = attribute.Key("sluice.route") // model:route:policy
	AttrStatus         = attribute.Key("sluice.status")
	AttrProvider       = attribute.Key("sluice.provider") // the configured provider's name
	AttrAttempt        = attribute.Key("sluice.attempt")
	AttrAttempts       = attribute.Key("sluice.attempts")
	AttrFallbackReason = attribute.Key("sluice.fallback_reason")
	AttrCache          = attribute.Key("sluice.cache")
	AttrGuardrails     = attribute.Key("sluice.guardrails") // "name:stage:action" per verdict
	AttrPrompt         = attribute.Key("sluice.prompt")
	AttrPromptVersion  = attribute.Key("sluice.prompt.version")
	AttrPromptLabel    = attribute.Key("sluice.prompt.label")
	AttrProduct        = attribute.Key("sluice.product")
	AttrProductVersion = attribute.Key("sluice.product.version")
	AttrPlan           = attribute.Key("sluice.plan")
	AttrExperiment     = attribute.Key("sluice.experiment")
	AttrArm            = attribute.Key("sluice.experiment.arm")
	AttrKeyID          = attribute.Key("sluice.key_id")
	AttrAppID          = attribute.Key("sluice.app_id")
	AttrCostMicros     = attribute.Key("sluice.cost_micros")
	AttrEstimated      = attribute.Key("sluice.usage.estimated")
)

type requestKey struct{}

// Request is the SERVER span of one client request. Its methods are safe
// on a nil *Request (tracing off, or the request not sampled).
type Request struct {
	t    *Tracer
	span oteltrace.Span

	mu       sync.Mutex     // guards provider and prev
	provider string         // gen_ai.provider.name of the latest attempt
	prev     ledger.Attempt // the latest attempt's outcome, for the next one's fallback reason
	attempts int
}

// StartRequest starts the SERVER span of r, continuing the caller's
// trace when r carries a valid traceparent. pattern is the route that
// matched ("POST /v1/chat/completions"). The returned context carries
// the span; pass it on (r.WithContext) so that attempts become its
// children.
func (t *Tracer) StartRequest(r *http.Request, pattern string) (context.Context, *Request) {
	if t == nil {
		return r.Context(), nil
	}
	ctx := t.Extract(r.Context(), r.Header)
	ctx, span := t.tracer.Start(ctx, pattern, oteltrace.WithSpanKind(oteltrace.SpanKindServer),
		oteltrace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.HTTPRoute(pattern)))
	q := &Request{t: t, span: span}
	return context.WithValue(ctx, requestKey{}, q), q
}

// FromContext returns the request span that ctx carries, or nil.
func FromContext(ctx context.Context) *Request {
	q, _ := ctx.Value(requestKey{}).(*Request)
	return q
}

// TraceID is the request's trace id in hex ("" on a nil Request).
func (q *Request) TraceID() string {
	if q == nil {
		return ""
	}
	return q.span.SpanContext().TraceID().String()
}

// End names the span after what the request did, sets its attributes
// from the ledger entry, and ends it. route is the X-Sluice-Route the
// request took ("" when none). finish are the upstream's finish reasons,
// when known.
func (q *Request) End(e *ledger.Entry, route string, finish []string) {
	if q == nil {
		return
	}
	q.mu.Lock()
	providerName := q.provider
	q.mu.Unlock()
	op := Operation(e.Endpoint)
	if op != "" && e.Model != "" {
		q.span.SetName(op + " " + clip(e.Model))
	}
	a := attrs{}
	a.str(AttrRequestID, e.RequestID)
	a.str(AttrEndpoint, e.Endpoint)
	a.str(AttrStatus, string(e.Status))
	if e.HTTPStatus > 0 {
		a = append(a, semconv.HTTPResponseStatusCode(e.HTTPStatus))
	}
	if op != "" {
		a = append(a, semconv.GenAIOperationNameKey.String(op))
		a.str(semconv.GenAIProviderNameKey, providerName)
		a.str(semconv.GenAIRequestModelKey, e.Model)
		a.str(semconv.GenAIResponseModelKey, e.ServedModel)
		a = append(a, semconv.GenAIUsageInputTokens(int(e.InputTokens)), semconv.GenAIUsageOutputTokens(int(e.OutputTokens)))
		if len(finish) > 0 {
			a = append(a, semconv.GenAIResponseFinishReasons(finish...))
		}
		a.num(AttrCostMicros, e.CostMicros)
		if e.Estimated {
			a = append(a, AttrEstimated.Bool(true))
		}
	}
	a.str(AttrProvider, e.Provider)
	a.str(AttrRoute, route)
	a.num(AttrAttempts, int64(len(e.Attempts)))
	a.str(AttrKeyID, e.KeyID)
	a.str(AttrAppID, e.AppID)
	a.str(AttrCache, e.Cache)
	if len(e.Guardrails) > 0 {
		vs := make([]string, 0, len(e.Guardrails))
		for _, v := range e.Guardrails {
			vs = append(vs, clip(v.Guardrail)+":"+v.Stage+":"+v.Action)
		}
		a = append(a, AttrGuardrails.StringSlice(vs))
	}
	a.str(AttrPrompt, e.Prompt)
	a.num(AttrPromptVersion, int64(e.PromptVersion))
	a.str(AttrPromptLabel, e.PromptLabel)
	a.str(AttrProduct, e.Product)
	a.str(AttrProductVersion, e.ProductVersion)
	a.str(AttrPlan, e.Plan)
	a.str(AttrExperiment, e.Experiment)
	a.str(AttrArm, e.Arm)
	if e.Status != ledger.StatusOK && e.Status != "" {
		a = append(a, semconv.ErrorTypeKey.String(errorType(e.Status, e.HTTPStatus)))
		if e.HTTPStatus >= 500 || e.Status == ledger.StatusUpstreamError || e.Status == ledger.StatusTruncated {
			q.span.SetStatus(codes.Error, clip(e.Error))
		}
	}
	q.span.SetAttributes(a...)
	q.span.End()
}

// Attempt is the CLIENT span of one upstream attempt. Its methods are
// safe on a nil *Attempt.
type Attempt struct {
	q    *Request
	ctx  context.Context
	span oteltrace.Span
}

// StartAttempt starts the CLIENT span of attempt n (from 1) of the
// request that ctx carries (nil when it carries none). providerName is
// the configured provider's name; system its gen_ai.provider.name
// (ProviderName of its adapter); op the request's operation name
// (Operation of the endpoint).
func StartAttempt(ctx context.Context, n int, providerName, system, model, op string) *Attempt {
	q := FromContext(ctx)
	if q == nil {
		return nil
	}
	q.mu.Lock()
	q.provider = system
	prev, hadPrev := q.prev, q.attempts > 0
	q.attempts++
	q.mu.Unlock()
	name := "attempt " + strconv.Itoa(n)
	if op != "" {
		name = op + " " + clip(model)
	}
	a := attrs{AttrAttempt.Int(n)}
	a.str(AttrProvider, providerName)
	if op != "" {
		a = append(a, semconv.GenAIOperationNameKey.String(op))
		a.str(semconv.GenAIProviderNameKey, system)
		a.str(semconv.GenAIRequestModelKey, model)
	}
	if hadPrev {
		a.str(AttrFallbackReason, fallbackReason(prev))
	}
	actx, span := q.t.tracer.Start(ctx, name, oteltrace.WithSpanKind(oteltrace.SpanKindClient), oteltrace.WithAttributes(a...))
	return &Attempt{q: q, ctx: actx, span: span}
}

// Inject writes the attempt's traceparent into the upstream request's
// headers, replacing the client's.
func (at *Attempt) Inject(h http.Header) {
	if at == nil {
		return
	}
	at.q.t.Inject(at.ctx, h)
}

// End records how the attempt went and ends its span. e is the request's
// entry as the attempt leaves it: its usage is the attempt's when the
// attempt answered.
func (at *Attempt) End(att ledger.Attempt, e *ledger.Entry) {
	if at == nil {
		return
	}
	at.q.mu.Lock()
	at.q.prev = att
	at.q.mu.Unlock()
	a := attrs{}
	a.str(AttrStatus, string(att.Status))
	if att.HTTPStatus > 0 {
		a = append(a, semconv.HTTPResponseStatusCode(att.HTTPStatus))
	}
	if att.Status == ledger.StatusOK && e != nil {
		a.str(semconv.GenAIResponseModelKey, e.ServedModel)
		a = append(a, semconv.GenAIUsageInputTokens(int(e.InputTokens)), semconv.GenAIUsageOutputTokens(int(e.OutputTokens)))
	}
	if att.Status != ledger.StatusOK && att.Status != "" {
		a = append(a, semconv.ErrorTypeKey.String(errorType(att.Status, att.HTTPStatus)))
		at.span.SetStatus(codes.Error, clip(att.Error))
	}
	at.span.SetAttributes(a...)
	at.span.End()
}

// Operation maps an endpoint to gen_ai.operation.name, or "" for an
// endpoint that runs no model (model lists, usage, token counts).
func Operation(endpoint string) string {
	switch endpoint {
	case "chat.completions", "messages", "responses":
		return "chat"
	case "gemini.generate_content":
		return "generate_content"
	case "embeddings":
		return "embeddings"
	}
	return ""
}

// GenAIProviderNamer is implemented by a provider adapter that knows its
// gen_ai.provider.name: the provider's type decides it, not the wire
// protocol (Azure OpenAI speaks OpenAI's protocol and is azure.ai.openai).
type GenAIProviderNamer interface {
	GenAIProviderName() string
}

// ProviderName returns gen_ai.provider.name for the adapter: the one it
// names, or for an adapter that names none, the well-known value of its
// protocol's own provider.
func ProviderName(a provider.Adapter) string {
	if n, ok := a.(GenAIProviderNamer); ok {
		if name := n.GenAIProviderName(); name != "" {
			return name
		}
	}
	switch a.Protocol() {
	case provider.ProtocolOpenAI, provider.ProtocolResponses:
		return semconv.GenAIProviderNameOpenAI.Value.AsString()
	case provider.ProtocolAnthropic:
		return semconv.GenAIProviderNameAnthropic.Value.AsString()
	case provider.ProtocolGemini:
		return semconv.GenAIProviderNameGCPGemini.Value.AsString()
	case provider.ProtocolBedrock:
		return semconv.GenAIProviderNameAWSBedrock.Value.AsString()
	}
	return string(a.Protocol())
}

// fallbackReason says why the attempt before this one did not answer,
// in a bounded vocabulary: the upstream's HTTP status, or the outcome.
func fallbackReason(prev ledger.Attempt) string {
	if prev.HTTPStatus > 0 && prev.HTTPStatus != http.StatusOK {
		return "http_" + strconv.Itoa(prev.HTTPStatus)
	}
	if prev.Status == "" {
		return "unknown"
	}
	return string(prev.Status)
}

func errorType(st ledger.Status, code int) string {
	if code >= 400 {
		return strconv.Itoa(code)
	}
	return string(st)
}
