package metrics

import (
	"strings"
	"testing"
)

func TestExposition(t *testing.T) {
	r := NewRegistry()
	f := r.Counter("sluice_requests_total", "Requests.", "endpoint", "status")
	f.With("chat.completions", "ok").Add(2)
	f.With("chat.completions", "ok").Add(1)
	f.With("messages", "truncated").Add(1)
	r.Gauge("sluice_target_up", "Target health.", func(emit func(map[string]string, float64)) {
		emit(map[string]string{"provider": "a", "model": `m"x`}, 1)
	})
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP sluice_requests_total Requests.
# TYPE sluice_requests_total counter
sluice_requests_total{endpoint="chat.completions",status="ok"} 3
sluice_requests_total{endpoint="messages",status="truncated"} 1
# HELP sluice_target_up Target health.
# TYPE sluice_target_up gauge
sluice_target_up{model="m\"x",provider="a"} 1
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
