package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Observability configures what Sluice sends to other observability
// systems. Metrics are always served on /metrics; traces only when
// OTLP is set.
type Observability struct {
	// OTLP, when set, exports traces over OTLP. Off by default.
	OTLP *OTLP `yaml:"otlp"`
}

// OTLP protocols.
const (
	OTLPHTTP = "http/protobuf"
	OTLPGRPC = "grpc"
)

// OTLP is an OpenTelemetry trace exporter.
type OTLP struct {
	// Endpoint is the collector's base URL: http://host:4318 for
	// http/protobuf (traces go to <endpoint>/v1/traces) or
	// http://host:4317 for grpc. An http:// endpoint is sent in the
	// clear, an https:// one over TLS.
	Endpoint string `yaml:"endpoint"`
	// Protocol is http/protobuf (default) or grpc.
	Protocol string `yaml:"protocol"`
	// Headers are sent with every export (for example an authorization
	// header of the collector).
	Headers map[string]string `yaml:"headers"`
	// SampleRatio is the share of new traces recorded, 0 to 1 (default
	// 1). A request that carries a traceparent follows its caller's
	// sampling decision.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// QueueSize bounds the spans waiting for export (default 2048);
	// spans beyond it are dropped and counted in
	// sluice_trace_spans_dropped_total.
	QueueSize int `yaml:"queue_size"`
	// ServiceName is the service.name resource attribute (default
	// "sluice").
	ServiceName string `yaml:"service_name"`
}

// Feedback metric types.
const (
	FeedbackBoolean  = "boolean"
	FeedbackFloat    = "float"
	FeedbackCategory = "category"
)

// FeedbackMetric declares a metric that clients may send to
// POST /v1/sluice/feedback.
type FeedbackMetric struct {
	Name string `yaml:"name"`
	// Type is boolean, float or category.
	Type string `yaml:"type"`
	// Min and Max bound a float metric (both optional).
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
	// Values are a category metric's accepted values.
	Values []string `yaml:"values"`
}

// validateObservability checks observability and feedback_metrics.
func (f *File) validateObservability(add adder) {
	if o := f.Observability.OTLP; o != nil {
		if u, err := url.Parse(o.Endpoint); o.Endpoint == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("observability.otlp.endpoint", "must be an absolute http:// or https:// URL")
		} else if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			add("observability.otlp.endpoint", "must not carry user info, a query or a fragment")
		}
		switch o.Protocol {
		case "", OTLPHTTP, OTLPGRPC:
		default:
			add("observability.otlp.protocol", "must be %s or %s", OTLPHTTP, OTLPGRPC)
		}
		if r := o.SampleRatio; r != nil && (*r < 0 || *r > 1 || *r != *r) {
			add("observability.otlp.sample_ratio", "must be between 0 and 1")
		}
		if o.QueueSize < 0 || o.QueueSize > 1<<20 {
			add("observability.otlp.queue_size", "must be between 0 (default) and 1048576")
		}
		for k, v := range o.Headers {
			if k == "" || strings.ContainsAny(k+v, "\r\n\x00") {
				add("observability.otlp.headers", "names must be non-empty and values free of control characters")
				break
			}
		}
	}
	seen := map[string]bool{}
	for i, m := range f.FeedbackMetrics {
		at := fmt.Sprintf("feedback_metrics[%d]", i)
		if !validName(m.Name) {
			add(at+".name", "must be 1-64 characters of letters, digits, '-', '_' or '.'")
		} else if seen[m.Name] {
			add(at+".name", "duplicate feedback metric %q", m.Name)
		}
		seen[m.Name] = true
		switch m.Type {
		case FeedbackBoolean:
		case FeedbackFloat:
			if m.Min != nil && m.Max != nil && !(*m.Min < *m.Max) {
				add(at+".max", "must be greater than min")
			}
		case FeedbackCategory:
			if len(m.Values) == 0 {
				add(at+".values", "required for type category")
			}
			for j, v := range m.Values {
				if v == "" || len(v) > 64 || slices.Index(m.Values, v) != j {
					add(fmt.Sprintf("%s.values[%d]", at, j), "must be 1-64 characters and not repeated")
				}
			}
		case "":
			add(at+".type", "required; one of boolean, float, category")
		default:
			add(at+".type", "unknown type %q; one of boolean, float, category", m.Type)
		}
		if m.Type != FeedbackFloat && (m.Min != nil || m.Max != nil) {
			add(at+".min", "only a float metric has min and max")
		}
		if m.Type != FeedbackCategory && len(m.Values) > 0 {
			add(at+".values", "only a category metric has values")
		}
	}
}

// Feedback returns the declared feedback metric named name.
func (f *File) Feedback(name string) (FeedbackMetric, bool) {
	for _, m := range f.FeedbackMetrics {
		if m.Name == name {
			return m, true
		}
	}
	return FeedbackMetric{}, false
}
