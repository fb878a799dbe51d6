package config

import (
	"fmt"
	"net/url"
	"time"
)

// ModelLifecycle retires a model the way a product version is retired:
// every response of a deprecated model carries the Deprecation, Sunset and
// Link headers, and after its sunset the model is refused 410 or, with
// on_sunset: redirect, served by its successor.
type ModelLifecycle struct {
	DeprecatedAt *time.Time `yaml:"deprecated_at"`
	SunsetAt     *time.Time `yaml:"sunset_at"`
	// Successor is the declared model that replaces this one.
	Successor string `yaml:"successor"`
	// DeprecationLink is the URL of the deprecation notice (optional).
	DeprecationLink string `yaml:"deprecation_link"`
	// OnSunset is refuse (the default: 410 Gone) or redirect (serve the
	// successor).
	OnSunset string `yaml:"on_sunset"`
}

// Retiring reports whether the model has a deprecation or a sunset date.
func (l ModelLifecycle) Retiring() bool { return l.DeprecatedAt != nil || l.SunsetAt != nil }

// validateModelLifecycle checks every model's deprecation, sunset,
// successor, link and sunset behaviour.
func (f *File) validateModelLifecycle(models map[string]bool, add adder) {
	for i, m := range f.Models {
		at := fmt.Sprintf("models[%d]", i)
		l := m.ModelLifecycle
		if l.DeprecatedAt != nil && l.SunsetAt != nil && l.SunsetAt.Before(*l.DeprecatedAt) {
			add(at+".sunset_at", "is earlier than deprecated_at")
		}
		switch {
		case l.Successor == "":
		case l.Successor == m.Name:
			add(at+".successor", "a model cannot succeed itself")
		case !models[l.Successor]:
			add(at+".successor", "no model %q (declare it under models)", l.Successor)
		}
		switch l.OnSunset {
		case "", "refuse":
		case "redirect":
			if l.Successor == "" {
				add(at+".on_sunset", "redirect needs a successor")
			}
		default:
			add(at+".on_sunset", "must be refuse or redirect")
		}
		if l.DeprecationLink != "" {
			if u, err := url.Parse(l.DeprecationLink); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				add(at+".deprecation_link", "must be an http or https URL")
			}
		}
		if !l.Retiring() && (l.Successor != "" || l.OnSunset != "" || l.DeprecationLink != "") {
			add(at, "successor, deprecation_link and on_sunset need deprecated_at or sunset_at")
		}
	}
}
