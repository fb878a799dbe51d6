// Package trace exports OpenTelemetry traces of Sluice's requests over
// OTLP (HTTP/protobuf or gRPC): one SERVER span per client request and
// one CLIENT span per upstream attempt, carrying the GenAI semantic
// conventions' attributes (gen_ai.*, never the deprecated gen_ai.system)
// and Sluice's own decisions under sluice.*.
//
// A request's W3C traceparent is continued, and each attempt sends its
// own span's traceparent upstream. Spans are exported in batches by one
// goroutine from a bounded queue: a request never waits for the
// collector, and spans that find the queue full are dropped and counted
// in sluice_trace_spans_dropped_total.
//
// A nil *Tracer is valid and records nothing: tracing is off by default.
package trace

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/metrics"
)

// Defaults of the export queue.
const (
	defaultQueue = 2048
	maxBatch     = 512
	batchEvery   = 2 * time.Second
)

// Tracer starts Sluice's spans and exports them. It is safe for
// concurrent use.
type Tracer struct {
	tp     *sdktrace.TracerProvider
	tracer oteltrace.Tracer
	batch  *batcher
	prop   propagation.TextMapPropagator
}

// Options are what New needs besides the configuration.
type Options struct {
	// Metrics, when set, gets sluice_trace_spans_dropped_total and
	// sluice_trace_spans_failed_total.
	Metrics *metrics.Registry
	// Exporter replaces the OTLP exporter (tests).
	Exporter sdktrace.SpanExporter
	// BatchEvery is how often a partial batch is sent (default 2 s).
	BatchEvery time.Duration
}

// New returns a Tracer exporting to cfg, or nil (tracing off) when cfg is
// nil. It does not connect: the first export does.
func New(ctx context.Context, cfg *config.OTLP, opts Options) (*Tracer, error) {
	if cfg == nil {
		return nil, nil
	}
	exp := opts.Exporter
	if exp == nil {
		var err error
		if exp, err = newExporter(ctx, cfg); err != nil {
			return nil, err
		}
	}
	var onDrop, onFail func(int)
	if opts.Metrics != nil {
		dropped := opts.Metrics.Counter("sluice_trace_spans_dropped_total",
			"Spans dropped because the export queue was full.").With()
		failed := opts.Metrics.Counter("sluice_trace_spans_failed_total",
			"Spans whose export to the OTLP collector failed.").With()
		onDrop = func(n int) { dropped.Add(int64(n)) }
		onFail = func(n int) { failed.Add(int64(n)) }
	}
	queue := cfg.QueueSize
	if queue <= 0 {
		queue = defaultQueue
	}
	every := opts.BatchEvery
	if every <= 0 {
		every = batchEvery
	}
	ratio := 1.0
	if cfg.SampleRatio != nil {
		ratio = *cfg.SampleRatio
	}
	name := cfg.ServiceName
	if name == "" {
		name = "sluice"
	}
	b := newBatcher(exp, queue, min(maxBatch, queue), every, onDrop, onFail)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(b),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithResource(resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(name))),
	)
	return &Tracer{
		tp:     tp,
		tracer: tp.Tracer("github.com/sluicehq/sluice", oteltrace.WithSchemaURL(semconv.SchemaURL)),
		batch:  b,
		prop:   propagation.TraceContext{},
	}, nil
}

func newExporter(ctx context.Context, cfg *config.OTLP) (sdktrace.SpanExporter, error) {
	endpoint := strings.TrimRight(cfg.Endpoint, "/")
	switch cfg.Protocol {
	case config.OTLPGRPC:
		return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint), otlptracegrpc.WithHeaders(cfg.Headers),
			otlptracegrpc.WithTimeout(10*time.Second),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: time.Second, MaxInterval: 5 * time.Second, MaxElapsedTime: 20 * time.Second}))
	case "", config.OTLPHTTP:
		return otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint+"/v1/traces"), otlptracehttp.WithHeaders(cfg.Headers),
			otlptracehttp.WithTimeout(10*time.Second),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: time.Second, MaxInterval: 5 * time.Second, MaxElapsedTime: 20 * time.Second}))
	}
	return nil, fmt.Errorf("trace: unknown OTLP protocol %q", cfg.Protocol)
}

// Flush exports every span ended so far.
func (t *Tracer) Flush(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.ForceFlush(ctx)
}

// Shutdown exports what is queued and stops the exporter; spans ended
// later are dropped.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// Dropped is the number of spans dropped because the queue was full.
func (t *Tracer) Dropped() int64 {
	if t == nil {
		return 0
	}
	return t.batch.Dropped()
}

// TraceID returns the id of the trace that ctx's span belongs to, in
// hex, or "" when ctx has no valid span.
func TraceID(ctx context.Context) string {
	if sc := oteltrace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

// Extract returns ctx with the remote span context named by h's
// traceparent (and tracestate), when it is valid.
func (t *Tracer) Extract(ctx context.Context, h http.Header) context.Context {
	if t == nil {
		return ctx
	}
	return t.prop.Extract(ctx, propagation.HeaderCarrier(h))
}

// Inject writes ctx's span context into h as traceparent (and
// tracestate), replacing what the client sent; without a valid span it
// leaves h as it is.
func (t *Tracer) Inject(ctx context.Context, h http.Header) {
	if t == nil || h == nil || !oteltrace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	h.Del("Tracestate")
	t.prop.Inject(ctx, propagation.HeaderCarrier(h))
}

// attrs is a growing attribute list that skips empty values, so that a
// step that did not apply leaves no attribute.
type attrs []attribute.KeyValue

func (a *attrs) str(k attribute.Key, v string) {
	if v != "" {
		*a = append(*a, k.String(clip(v)))
	}
}

func (a *attrs) num(k attribute.Key, v int64) {
	if v != 0 {
		*a = append(*a, k.Int64(v))
	}
}

// clip bounds a value that came from a client (a model name), so that a
// span never carries an unbounded string.
func clip(s string) string {
	const maxValue = 256
	if len(s) > maxValue {
		s = strings.ToValidUTF8(s[:maxValue], "")
	}
	return s
}

// HeaderTraceID returns the trace id of h's traceparent, or "" when it
// has none or an invalid one.
func HeaderTraceID(h http.Header) string {
	if h.Get("Traceparent") == "" {
		return ""
	}
	return TraceID(propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(h)))
}
