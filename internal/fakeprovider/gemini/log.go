package geminifake

import (
	"net/http"

	"github.com/sluicehq/sluice/internal/fakeprovider/reqlog"
)

// Request is what the fake recorded about one request it received.
type Request = reqlog.Request

// recordOf returns the live record of a request that ServeHTTP is handling.
func recordOf(r *http.Request) *Request { return reqlog.Record(r) }
