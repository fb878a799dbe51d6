package runtime

import (
	"testing"

	"github.com/sluicehq/sluice/internal/config"
)

func TestRequestLogCaptures(t *testing.T) {
	l := compileRequestLog(&config.File{RequestLog: config.RequestLog{Capture: []config.CaptureScope{
		{OrgID: "o1", AppID: "a1"}, {Key: "dev"}, {Product: "shop"}}}})
	if l.MaxBody != DefaultCaptureBytes || l.TTL != DefaultCaptureTTL {
		t.Fatalf("defaults %+v", l)
	}
	for _, tc := range []struct {
		name                              string
		org, app, keyID, keyName, product string
		want                              bool
	}{
		{"the app of the organisation", "o1", "a1", "k9", "x", "", true},
		{"another app of the organisation", "o1", "a2", "k9", "x", "", false},
		{"a key by name", "o2", "a3", "k1", "dev", "", true},
		{"a key by id", "o2", "a3", "dev", "other", "", true},
		{"a product", "o2", "a3", "k1", "x", "shop", true},
		{"nothing matches", "o2", "a3", "k1", "x", "other", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := l.Captures(tc.org, tc.app, tc.keyID, tc.keyName, tc.product); got != tc.want {
				t.Fatalf("Captures = %v", got)
			}
		})
	}
	if compileRequestLog(&config.File{}).Captures("o1", "a1", "k", "k", "p") {
		t.Fatal("captures by default")
	}
	var nilLog *RequestLog
	if nilLog.Captures("o1", "", "", "", "") {
		t.Fatal("a nil request log captures")
	}
}
