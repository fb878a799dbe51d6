package ratelimit_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/ratelimit/ratelimittest"
)

// TestConformance runs the limiter conformance suite on the in-memory
// limiter.
func TestConformance(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T, now func() time.Time) *ratelimit.Limiter {
		l := ratelimit.New(now)
		t.Cleanup(l.Close)
		return l
	})
}
