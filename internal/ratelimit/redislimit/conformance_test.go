package redislimit

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/ratelimit/ratelimittest"
)

// TestConformance runs the limiter conformance suite on a shared limiter
// over Redis, each test under a key prefix of its own. The suite fails if
// anything was decided locally, so every answer is the scripts'.
func TestConformance(t *testing.T) {
	addr := redisAddr(t)
	ratelimittest.Run(t, func(t *testing.T, now func() time.Time) *ratelimit.Limiter {
		o := exact
		o.Now = now
		return newNode(t, addr, prefix(t), o).lim
	})
}
