package runtime

import (
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/product"
)

// ModelLifecycle is a retiring model's deprecation, sunset and successor,
// as the data plane uses them.
type ModelLifecycle struct {
	// Dates holds DeprecatedAt, SunsetAt and Successor, so that the model's
	// headers are rendered as a product version's are.
	Dates product.Version
	// Link is the deprecation notice's URL ("" for none).
	Link string
	// Redirect serves the successor after the sunset (else 410 Gone).
	Redirect bool
}

// SunsetPassed reports whether the model's sunset has come at now.
func (l *ModelLifecycle) SunsetPassed(now time.Time) bool { return l.Dates.SunsetPassed(now) }

// compileModelLifecycle is nil for a model without a deprecation or a
// sunset date.
func compileModelLifecycle(m config.Model) *ModelLifecycle {
	l := m.ModelLifecycle
	if !l.Retiring() {
		return nil
	}
	return &ModelLifecycle{
		Dates:    product.Version{Version: m.Name, DeprecatedAt: l.DeprecatedAt, SunsetAt: l.SunsetAt, Successor: l.Successor},
		Link:     l.DeprecationLink,
		Redirect: l.OnSunset == "redirect",
	}
}
