package config

import "fmt"

// RequestLog captures request and response bodies for the scopes it names
// (off by default). Bodies are redacted by the guardrails' PII detectors
// before they are stored, cut at MaxBodyBytes, and deleted after TTL.
type RequestLog struct {
	// Capture lists the scopes whose requests are captured; a request is
	// captured when it matches one (every field given must match). Empty:
	// nothing is captured.
	Capture []CaptureScope `yaml:"capture"`
	// MaxBodyBytes caps each stored body (default 65536, at most 1 MiB).
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// TTL is how long a capture is kept (default 168h).
	TTL Duration `yaml:"ttl"`
}

// CaptureScope selects requests by organisation, application, key or
// product (ids as in the ledger; a key by id or name).
type CaptureScope struct {
	OrgID   string `yaml:"org_id"`
	AppID   string `yaml:"app_id"`
	Key     string `yaml:"key"`
	Product string `yaml:"product"`
}

// validateRequestLog checks request_log.
func (f *File) validateRequestLog(add adder) {
	l := f.RequestLog
	if l.MaxBodyBytes < 0 || l.MaxBodyBytes > 1<<20 {
		add("request_log.max_body_bytes", "from 0 (default 65536) to 1048576")
	}
	if l.TTL < 0 {
		add("request_log.ttl", "must not be negative")
	}
	for i, c := range l.Capture {
		if c == (CaptureScope{}) {
			add(fmt.Sprintf("request_log.capture[%d]", i), "name at least one of org_id, app_id, key, product")
		}
	}
}
