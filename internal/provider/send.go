package provider

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// A Sender sends an adapter's requests with the process-wide client.
//
// Sluice's upstream client follows no redirect (its CheckRedirect answers
// http.ErrUseLastResponse), keeps no cookies and sets no Client.Timeout
// (each attempt's context carries its deadline). For such a client,
// http.Client.Do is its Transport's RoundTrip plus machinery that never
// acts: a copy of the request's headers kept for a redirect, a redirect
// check, a timer. A Sender built from such a client calls the Transport
// directly and does what Client.Do would still do: errors wrapped in a
// *url.Error ("Post", the URL, the cause), a nil body made empty, a 3xx
// whose Location does not parse refused, every other answer returned as
// it is. Any other client (one that follows redirects, has a jar or a
// timeout) is used through Client.Do, as is a request whose URL carries
// credentials (Client.Do turns them into basic authentication).
type Sender struct {
	client *http.Client
	rt     http.RoundTripper // non-nil: call it directly
}

// NewSender returns a Sender for c (nil: http.DefaultClient).
func NewSender(c *http.Client) Sender {
	if c == nil {
		c = http.DefaultClient
	}
	s := Sender{client: c}
	if c.Jar == nil && c.Timeout == 0 && c.CheckRedirect != nil && returnsRedirects(c) {
		s.rt = c.Transport
		if s.rt == nil {
			s.rt = http.DefaultTransport
		}
	}
	return s
}

// returnsRedirects reports whether c's CheckRedirect answers a redirect
// with http.ErrUseLastResponse (asked about a made-up one).
func returnsRedirects(c *http.Client) bool {
	prev, _ := http.NewRequest(http.MethodPost, "http://upstream.invalid/v1", nil)
	next, _ := http.NewRequest(http.MethodPost, "http://upstream.invalid/v2", nil)
	return c.CheckRedirect(next, []*http.Request{prev}) == http.ErrUseLastResponse
}

// Direct reports whether s calls the Transport without http.Client.
func (s Sender) Direct() bool { return s.rt != nil }

// Do sends req and returns the upstream's answer, as http.Client.Do
// would with s's client.
func (s Sender) Do(req *http.Request) (*http.Response, error) {
	if s.rt == nil || req.URL == nil || req.URL.User != nil || req.Header == nil || req.RequestURI != "" {
		return s.client.Do(req)
	}
	resp, err := s.rt.RoundTrip(req)
	if err != nil {
		if tlsErr, ok := err.(tls.RecordHeaderError); ok && string(tlsErr.RecordHeader[:]) == "HTTP/" {
			err = http.ErrSchemeMismatch
		}
		return nil, urlError(req, err)
	}
	if resp == nil {
		return nil, urlError(req, fmt.Errorf("http: RoundTripper implementation (%T) returned a nil *Response with a nil error", s.rt))
	}
	if resp.Body == nil {
		if resp.ContentLength > 0 && req.Method != http.MethodHead {
			return nil, urlError(req, fmt.Errorf("http: RoundTripper implementation (%T) returned a *Response with content length %d but a nil Body", s.rt, resp.ContentLength))
		}
		resp.Body = io.NopCloser(strings.NewReader(""))
	}
	if isRedirect(resp.StatusCode) {
		// Client.Do parses the Location of a redirect before it asks
		// CheckRedirect, and refuses one that does not parse.
		if loc := resp.Header.Get("Location"); loc != "" {
			if _, perr := req.URL.Parse(loc); perr != nil {
				resp.Body.Close()
				closeBody(req)
				return nil, urlError(req, fmt.Errorf("failed to parse Location header %q: %v", loc, perr))
			}
		}
	}
	return resp, nil
}

// isRedirect reports the statuses http.Client would follow.
func isRedirect(code int) bool {
	switch code {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// urlError wraps err as http.Client.Do does. (RoundTrip closes the
// request's body whatever happens; Client.Do closes it itself only when it
// refuses an answer.)
func urlError(req *http.Request, err error) error {
	op := "Get"
	if m := req.Method; m != "" {
		op = m[:1] + strings.ToLower(m[1:])
	}
	return &url.Error{Op: op, URL: req.URL.String(), Err: err}
}
