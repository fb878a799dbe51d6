package product

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DeprecationValue renders t as an RFC 9745 Deprecation field value: a
// Structured Field Date, "@" followed by the Unix seconds.
func DeprecationValue(t time.Time) string { return "@" + strconv.FormatInt(t.Unix(), 10) }

// SunsetValue renders t as an RFC 8594 Sunset field value: an HTTP-date in
// IMF-fixdate form, "Sat, 31 Dec 2018 23:59:59 GMT".
func SunsetValue(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// LinkValue renders one RFC 8288 link: <url>; rel="rel" (and a type when set).
func LinkValue(url, rel, typ string) string {
	s := "<" + url + ">; rel=\"" + rel + "\""
	if typ != "" {
		s += "; type=\"" + typ + "\""
	}
	return s
}

// Links are the targets of a deprecated version's Link headers; an empty
// one is left out.
type Links struct {
	Deprecation string // the deprecation notice or the version's docs
	Sunset      string // the sunset policy
	Successor   string // the successor version's base URL
}

// Headers returns the headers every response of a version carries once it
// has a deprecation date: Deprecation (RFC 9745), Sunset (RFC 8594) when
// a sunset is set, and a Link with rel="deprecation", rel="sunset" and
// rel="successor-version" (RFC 5829) for each link given. None for a
// version without a deprecation date.
func (v *Version) Headers(l Links) http.Header {
	h := http.Header{}
	if v.DeprecatedAt == nil && v.SunsetAt == nil {
		return h
	}
	if v.DeprecatedAt != nil {
		h.Set("Deprecation", DeprecationValue(*v.DeprecatedAt))
	}
	if v.SunsetAt != nil {
		h.Set("Sunset", SunsetValue(*v.SunsetAt))
	}
	if l.Deprecation != "" {
		h.Add("Link", LinkValue(l.Deprecation, "deprecation", "text/html"))
	}
	if l.Sunset != "" && v.SunsetAt != nil {
		h.Add("Link", LinkValue(l.Sunset, "sunset", "text/html"))
	}
	if l.Successor != "" {
		h.Add("Link", LinkValue(l.Successor, "successor-version", ""))
	}
	return h
}

// SunsetPassed reports whether the version's sunset has come at now: its
// requests are then answered 410 Gone.
func (v *Version) SunsetPassed(now time.Time) bool {
	return v.SunsetAt != nil && !now.Before(*v.SunsetAt)
}

// BasePath is the data-plane base URL path of a product version.
func BasePath(product, version string) string {
	return "/products/" + product + "/" + version
}

// VersionLinks are the links of a version of product served under base
// (an absolute URL or a path, without a trailing slash, e.g.
// "https://gw.example.com"): its docs when they are a URL (else its
// OpenAPI document), and its successor's base URL.
func VersionLinks(base, product string, v *Version) Links {
	base = strings.TrimSuffix(base, "/")
	l := Links{Deprecation: base + BasePath(product, v.Version) + "/openapi.json"}
	if strings.HasPrefix(v.Docs, "https://") || strings.HasPrefix(v.Docs, "http://") {
		l.Deprecation = v.Docs
	}
	l.Sunset = l.Deprecation
	if v.Successor != "" {
		l.Successor = base + BasePath(product, v.Successor) + "/v1"
	}
	return l
}
