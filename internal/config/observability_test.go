package config

import (
	"errors"
	"strings"
	"testing"
)

const observed = `
version: 1
providers: [{name: demo, type: demo}]
models:
  - name: demo
    targets: [{provider: demo, model: demo-chat}]
`

func TestObservabilityValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // a substring of the one problem's path and message; "" for none
	}{
		{"contract", "observability:\n  otlp: {endpoint: \"http://127.0.0.1:4318\", protocol: http/protobuf}\nfeedback_metrics:\n  - {name: helpful, type: boolean}\n", ""},
		{"grpc with headers and ratio", "observability:\n  otlp: {endpoint: \"https://otel:4317\", protocol: grpc, headers: {authorization: Bearer x}, sample_ratio: 0.25, queue_size: 100}\n", ""},
		{"off by default", "", ""},
		{"no endpoint", "observability:\n  otlp: {protocol: grpc}\n", "observability.otlp.endpoint: must be an absolute"},
		{"endpoint not http", "observability:\n  otlp: {endpoint: \"ftp://x:1\"}\n", "observability.otlp.endpoint: must be an absolute"},
		{"endpoint with user", "observability:\n  otlp: {endpoint: \"http://u:p@x:1\"}\n", "observability.otlp.endpoint: must not carry"},
		{"unknown protocol", "observability:\n  otlp: {endpoint: \"http://x:1\", protocol: http/json}\n", "observability.otlp.protocol: must be"},
		{"ratio above one", "observability:\n  otlp: {endpoint: \"http://x:1\", sample_ratio: 1.5}\n", "observability.otlp.sample_ratio"},
		{"negative queue", "observability:\n  otlp: {endpoint: \"http://x:1\", queue_size: -1}\n", "observability.otlp.queue_size"},
		{"header with newline", "observability:\n  otlp: {endpoint: \"http://x:1\", headers: {a: \"b\\nc\"}}\n", "observability.otlp.headers"},
		{"float range and category", "feedback_metrics:\n  - {name: score, type: float, min: 0, max: 5}\n  - {name: mood, type: category, values: [good, bad]}\n", ""},
		{"metric without type", "feedback_metrics:\n  - {name: helpful}\n", "feedback_metrics[0].type: required"},
		{"metric of unknown type", "feedback_metrics:\n  - {name: helpful, type: int}\n", "feedback_metrics[0].type: unknown type"},
		{"duplicate metric", "feedback_metrics:\n  - {name: a, type: boolean}\n  - {name: a, type: float}\n", "feedback_metrics[1].name: duplicate"},
		{"bad metric name", "feedback_metrics:\n  - {name: \"a b\", type: boolean}\n", "feedback_metrics[0].name"},
		{"min not below max", "feedback_metrics:\n  - {name: a, type: float, min: 5, max: 5}\n", "feedback_metrics[0].max: must be greater"},
		{"category without values", "feedback_metrics:\n  - {name: a, type: category}\n", "feedback_metrics[0].values: required"},
		{"repeated category value", "feedback_metrics:\n  - {name: a, type: category, values: [x, x]}\n", "feedback_metrics[0].values[1]"},
		{"range on a boolean", "feedback_metrics:\n  - {name: a, type: boolean, max: 1}\n", "feedback_metrics[0].min: only a float"},
		{"values on a float", "feedback_metrics:\n  - {name: a, type: float, values: [x]}\n", "feedback_metrics[0].values: only a category"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(observed+tc.yaml), nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want no problem, got %v", err)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) || len(ps) != 1 {
				t.Fatalf("want one problem %q, got %v", tc.want, err)
			}
			if got := ps[0].Path + ": " + ps[0].Msg; !strings.Contains(got, tc.want) {
				t.Fatalf("problem %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFeedbackLookup(t *testing.T) {
	f, err := Parse([]byte(observed+"feedback_metrics:\n  - {name: helpful, type: boolean}\n  - {name: score, type: float, max: 10}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := f.Feedback("score"); !ok || m.Type != FeedbackFloat || *m.Max != 10 {
		t.Fatalf("Feedback(score) = %+v, %v", m, ok)
	}
	if _, ok := f.Feedback("nope"); ok {
		t.Fatal("an undeclared metric was found")
	}
}
