package login

import (
	"time"

	"github.com/sluicehq/sluice/internal/throttle"
)

// Throttle limits failed sign-in attempts per key; it is throttle.Throttle,
// which the data plane shares without importing this package.
type Throttle = throttle.Throttle

// NewThrottle returns a throttle.Throttle that allows perMinute failures per
// key per minute (see throttle.New).
func NewThrottle(perMinute int, now func() time.Time) *Throttle { return throttle.New(perMinute, now) }
