package runtime

import (
	"time"

	"github.com/sluicehq/sluice/internal/config"
)

// RequestLog is request_log compiled: which requests have their bodies
// captured, the size cap and how long captures are kept.
type RequestLog struct {
	Scopes  []config.CaptureScope
	MaxBody int
	TTL     time.Duration
}

// Defaults of request_log.
const (
	DefaultCaptureBytes = 64 << 10
	DefaultCaptureTTL   = 7 * 24 * time.Hour
)

func compileRequestLog(f *config.File) *RequestLog {
	l := &RequestLog{Scopes: f.RequestLog.Capture, MaxBody: f.RequestLog.MaxBodyBytes, TTL: time.Duration(f.RequestLog.TTL)}
	if l.MaxBody <= 0 {
		l.MaxBody = DefaultCaptureBytes
	}
	if l.TTL <= 0 {
		l.TTL = DefaultCaptureTTL
	}
	return l
}

// Captures says whether a request of this organisation, application,
// key (id or name) and product has its bodies captured.
func (l *RequestLog) Captures(orgID, appID, keyID, keyName, product string) bool {
	if l == nil {
		return false
	}
	for _, s := range l.Scopes {
		if (s.OrgID == "" || s.OrgID == orgID) && (s.AppID == "" || s.AppID == appID) &&
			(s.Key == "" || s.Key == keyID || s.Key == keyName) && (s.Product == "" || s.Product == product) {
			return true
		}
	}
	return false
}
