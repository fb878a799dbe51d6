package bedrockfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	wire "github.com/sluicehq/sluice/internal/apischema/bedrock"
)

// The fake checks AWS Signature Version 4 the way AWS does, from the
// request as it arrived: the raw request target (so that a model id sent
// as %3A is checked as %253A in the canonical URI), the headers named in
// SignedHeaders, and the hash of the body actually received. It shares no
// code with the adapter's signer on purpose.

// sigError is an authentication failure as AWS reports it (403).
type sigError struct {
	typ, msg string
}

const maxSkew = 5 * time.Minute

// verifySigV4 checks r, whose body is body, against the fake's credentials.
func (s *Server) verifySigV4(r *http.Request, body []byte) *sigError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return &sigError{wire.ErrMissingAuthToken, "Missing Authentication Token"}
	}
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return &sigError{wire.ErrIncompleteSignature, "Authorization header requires AWS4-HMAC-SHA256 signature."}
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return &sigError{wire.ErrIncompleteSignature, "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."}
		}
		fields[k] = v
	}
	cred, signedHeaders, signature := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	if cred == "" || signedHeaders == "" || signature == "" {
		return &sigError{wire.ErrIncompleteSignature, "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."}
	}
	// Credential = AKID/date/region/service/aws4_request
	cp := strings.Split(cred, "/")
	if len(cp) != 5 || cp[4] != "aws4_request" {
		return &sigError{wire.ErrIncompleteSignature, "Credential should be scoped to a valid region."}
	}
	akid, date, region, service := cp[0], cp[1], cp[2], cp[3]
	if akid != s.opts.AccessKeyID {
		return &sigError{wire.ErrUnrecognizedClient, "The security token included in the request is invalid."}
	}
	if s.opts.SessionToken != "" && r.Header.Get("X-Amz-Security-Token") != s.opts.SessionToken {
		return &sigError{wire.ErrUnrecognizedClient, "The security token included in the request is invalid."}
	}
	if region != s.opts.Region {
		return &sigError{wire.ErrInvalidSignature, fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", region)}
	}
	if service != "bedrock" {
		return &sigError{wire.ErrInvalidSignature, "Credential should be scoped to correct service: 'bedrock'. "}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return &sigError{wire.ErrIncompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."}
	}
	if !strings.HasPrefix(amzDate, date) {
		return &sigError{wire.ErrInvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP."}
	}
	if skew := s.opts.Now().Sub(t); skew > maxSkew || skew < -maxSkew {
		return &sigError{wire.ErrInvalidSignature, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 5 min.)",
			amzDate, s.opts.Now().UTC().Add(-maxSkew).Format("20060102T150405Z"), s.opts.Now().UTC().Format("20060102T150405Z"))}
	}
	names := strings.Split(signedHeaders, ";")
	if !sort.StringsAreSorted(names) || !contains(names, "host") {
		return &sigError{wire.ErrInvalidSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."}
	}
	var ch strings.Builder
	for _, n := range names {
		var v string
		switch n {
		case "host":
			v = r.Host
		case "content-length":
			v = fmt.Sprint(r.ContentLength)
		default:
			vals, ok := r.Header[http.CanonicalHeaderKey(n)]
			if !ok {
				return &sigError{wire.ErrInvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
			}
			cleaned := make([]string, len(vals))
			for i, x := range vals {
				cleaned[i] = collapse(x)
			}
			v = strings.Join(cleaned, ",")
		}
		ch.WriteString(n + ":" + v + "\n")
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return &sigError{wire.ErrInvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed."}
	}
	canonical := r.Method + "\n" + uriEncode(rawPath(r), false) + "\n" + canonQuery(r.URL.RawQuery) + "\n" +
		ch.String() + "\n" + signedHeaders + "\n" + payloadHash
	crHash := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + date + "/" + region + "/" + service + "/aws4_request\n" + hex.EncodeToString(crHash[:])
	key := mac([]byte("AWS4"+s.opts.SecretAccessKey), date)
	key = mac(key, region)
	key = mac(key, service)
	key = mac(key, "aws4_request")
	want := hex.EncodeToString(mac(key, toSign))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return &sigError{wire.ErrInvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	}
	return nil
}

func mac(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func collapse(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
}

// rawPath is the path of the request target exactly as the client sent it.
func rawPath(r *http.Request) string {
	p := r.RequestURI
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if u, err := url.Parse(p); err == nil && u.Scheme != "" { // absolute-form target
		p = u.EscapedPath()
	}
	if p == "" {
		p = r.URL.EscapedPath()
	}
	return p
}

// uriEncode escapes every byte but A-Z a-z 0-9 - . _ ~ (and '/' in paths).
func uriEncode(s string, slash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		case c == '/' && !slash:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func canonQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, _ := url.ParseQuery(raw)
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k, true)+"="+uriEncode(v, true))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}
