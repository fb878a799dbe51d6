package bedrockfake

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/sluicehq/sluice/internal/fakeprovider/reqlog"
)

// Request is what the fake recorded about one request it received.
type Request = reqlog.Request

// recordOf returns the live record of a request that ServeHTTP is handling.
func recordOf(r *http.Request) *Request { return reqlog.Record(r) }

// ModelID is the model id of a recorded /model/{modelId}/... request,
// unescaped.
func ModelID(r Request) string {
	rest, ok := strings.CutPrefix(r.RawPath, "/model/")
	if !ok {
		return ""
	}
	seg, _, _ := strings.Cut(rest, "/")
	id, err := url.PathUnescape(seg)
	if err != nil {
		return ""
	}
	return id
}
