package provider

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
)

// An Endpoint is an upstream URL parsed once, when the adapter is built,
// rather than once per request.
type Endpoint struct {
	url  url.URL
	host string
	err  error // the URL's parse error, returned by every NewRequest
}

// NewEndpoint parses raw as http.NewRequest does.
func NewEndpoint(raw string) *Endpoint {
	r, err := http.NewRequest(http.MethodPost, raw, nil)
	if err != nil {
		return &Endpoint{err: err}
	}
	return &Endpoint{url: *r.URL, host: r.Host}
}

// NewRequest is http.NewRequestWithContext(ctx, "POST", raw,
// bytes.NewReader(body)) for the endpoint's raw URL: the same request
// (ContentLength and GetBody included), each with its own copy of the URL.
func (e *Endpoint) NewRequest(ctx context.Context, body []byte) (*http.Request, error) {
	if e.err != nil {
		return nil, e.err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	*hr.URL = e.url
	hr.Host = e.host
	return hr, nil
}
