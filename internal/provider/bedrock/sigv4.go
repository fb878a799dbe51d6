package bedrock

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// AWS Signature Version 4, for requests with a header signature, as the AWS
// SDK for Go v2 (aws/signer/v4) computes it:
//
//	CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n
//	                   CanonicalHeaders \n SignedHeaders \n PayloadHash
//	StringToSign     = "AWS4-HMAC-SHA256" \n AmzDate \n Scope \n hex(sha256(CanonicalRequest))
//	Scope            = Date/Region/Service/aws4_request
//	SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4"+Secret, Date), Region), Service), "aws4_request")
//
// For every service but S3 the canonical URI is the path as sent (already
// escaped) escaped once more, so that a model id with ':' sent as %3A is
// signed as %253A.

const (
	sigAlgorithm  = "AWS4-HMAC-SHA256"
	amzDateFormat = "20060102T150405Z"
)

// credentials are long-term or temporary AWS credentials.
type credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// signer signs requests for one service in one region.
type signer struct {
	creds   credentials
	region  string
	service string
}

// sign adds X-Amz-Date (and X-Amz-Security-Token) to r and its
// Authorization header. payloadHash is the hex SHA-256 of the body. The
// signed headers are host and, of those present on r, the names in signed
// (lower case) plus x-amz-date and x-amz-security-token.
func (s signer) sign(r *http.Request, payloadHash string, now time.Time, signed []string) {
	now = now.UTC()
	amzDate := now.Format(amzDateFormat)
	r.Header.Set("X-Amz-Date", amzDate)
	names := append([]string{"host", "x-amz-date"}, signed...)
	if s.creds.SessionToken != "" {
		r.Header.Set("X-Amz-Security-Token", s.creds.SessionToken)
		names = append(names, "x-amz-security-token")
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	sort.Strings(names)
	names = dedupe(names)
	var canonHeaders strings.Builder
	var signedNames []string
	for _, n := range names {
		var v string
		if n == "host" {
			v = host
		} else {
			vs, ok := r.Header[http.CanonicalHeaderKey(n)]
			if !ok {
				continue
			}
			cleaned := make([]string, len(vs))
			for i, x := range vs {
				cleaned[i] = trimSpaces(x)
			}
			v = strings.Join(cleaned, ",")
		}
		signedNames = append(signedNames, n)
		canonHeaders.WriteString(n)
		canonHeaders.WriteByte(':')
		canonHeaders.WriteString(v)
		canonHeaders.WriteByte('\n')
	}
	signedHeaders := strings.Join(signedNames, ";")
	canonical := strings.Join([]string{
		r.Method,
		canonicalURI(r.URL),
		canonicalQuery(r.URL),
		canonHeaders.String(),
		signedHeaders,
		payloadHash,
	}, "\n")
	scope := strings.Join([]string{now.Format("20060102"), s.region, s.service, "aws4_request"}, "/")
	toSign := strings.Join([]string{sigAlgorithm, amzDate, scope, hexSHA256([]byte(canonical))}, "\n")
	sig := hex.EncodeToString(hmacSHA256(s.signingKey(now), []byte(toSign)))
	r.Header.Set("Authorization", sigAlgorithm+" Credential="+s.creds.AccessKeyID+"/"+scope+
		", SignedHeaders="+signedHeaders+", Signature="+sig)
}

func (s signer) signingKey(now time.Time) []byte {
	k := hmacSHA256([]byte("AWS4"+s.creds.SecretAccessKey), []byte(now.Format("20060102")))
	k = hmacSHA256(k, []byte(s.region))
	k = hmacSHA256(k, []byte(s.service))
	return hmacSHA256(k, []byte("aws4_request"))
}

// canonicalURI escapes the path as it goes on the wire once more.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return escape(p, false)
}

// canonicalQuery sorts the query by key, then value, each escaped.
func canonicalQuery(u *url.URL) string {
	if u.RawQuery == "" {
		return ""
	}
	q := u.Query()
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, escape(k, true)+"="+escape(v, true))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// escape percent-encodes every byte but the unreserved ones (and '/' unless
// encodeSlash), upper-case hex, as SigV4 wants.
func escape(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// trimSpaces trims spaces around a header value and collapses runs of
// spaces inside it.
func trimSpaces(s string) string {
	s = strings.Trim(s, " ")
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return s
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func hmacSHA256(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
