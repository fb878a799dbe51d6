package proxy

import (
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/internal/provider"
)

// dropRequest are client headers never forwarded upstream: the client's
// credentials, hop-by-hop headers, headers Sluice sets itself, and
// client-supplied proxy and routing headers.
var dropRequest = map[string]bool{
	"Authorization": true, "Api-Key": true, "X-Api-Key": true, "X-Goog-Api-Key": true,
	"Proxy-Authorization": true, "Cookie": true,
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true,
	"Host": true, "Content-Length": true, "Content-Type": true, "Accept-Encoding": true,
	"X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true, "Forwarded": true,
	"X-Real-Ip": true, "Openai-Organization": true, "Openai-Project": true,
}

// forwardHeaders returns the client headers that may go upstream.
func forwardHeaders(in http.Header) http.Header {
	out := make(http.Header, len(in))
	var conn []string
	if c := in["Connection"]; len(c) > 0 {
		for _, v := range c {
			for _, f := range strings.Split(v, ",") {
				conn = append(conn, http.CanonicalHeaderKey(strings.TrimSpace(f)))
			}
		}
	}
	for k, vs := range in {
		if dropRequest[k] {
			continue
		}
		if len(conn) > 0 && contains(conn, k) {
			continue
		}
		out[k] = vs
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// keepResponse are upstream response headers passed to the client. Others
// (cookies, the provider's organisation and rate-limit headers) stay here.
var keepResponse = []string{"Content-Type", "Cache-Control", "Openai-Processing-Ms", "Openai-Version", "Retry-After"}

func copyResponseHeaders(dst, src http.Header) {
	copyHeaders(dst, src, keepResponse)
}

// keepTranslated are the upstream headers still meaningful to a client of
// another protocol.
var keepTranslated = []string{"Cache-Control", "Retry-After"}

// copyTranslatedHeaders copies what a translated answer keeps.
func copyTranslatedHeaders(dst, src http.Header) {
	copyHeaders(dst, src, keepTranslated)
}

func copyHeaders(dst, src http.Header, keep []string) {
	for _, k := range keep {
		if vs := src[k]; len(vs) > 0 {
			dst[k] = vs
		}
	}
	if id := src.Get("X-Request-Id"); id != "" {
		dst.Set("X-Upstream-Request-Id", id)
	}
}

// protocolHeaders are client headers that mean something only to one
// protocol's servers; they are dropped when a request is translated.
var protocolHeaders = map[string]provider.Protocol{
	"Anthropic-Version": provider.ProtocolAnthropic, "Anthropic-Beta": provider.ProtocolAnthropic,
	"Anthropic-Dangerous-Direct-Browser-Access": provider.ProtocolAnthropic,
	"X-Goog-Api-Client":                         provider.ProtocolGemini, "X-Goog-User-Project": provider.ProtocolGemini,
	"Openai-Beta": provider.ProtocolOpenAI,
}

// upstreamHeaders returns the client headers to send to an upstream that
// speaks up, for a client that speaks client.
func upstreamHeaders(in http.Header, client, up provider.Protocol) http.Header {
	out := forwardHeaders(in)
	if client == up || (client == provider.ProtocolResponses && up == provider.ProtocolOpenAI) {
		return out
	}
	for k := range out {
		if p, ok := protocolHeaders[k]; ok && p != up {
			delete(out, k)
		}
	}
	return out
}
