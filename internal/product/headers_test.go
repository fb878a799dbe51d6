package product

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

// TestHeaderValuesRFCExamples renders the examples of RFC 9745 and
// RFC 8594 from their instants.
func TestHeaderValuesRFCExamples(t *testing.T) {
	for _, tc := range []struct {
		name, got, want string
	}{
		// RFC 9745 section 2.1: "Deprecation: @1688169599" is 30 June 2023 23:59:59 UTC.
		{"deprecation", DeprecationValue(*at("2023-06-30T23:59:59Z")), "@1688169599"},
		// The same instant given in another zone renders the same seconds.
		{"deprecation in another zone", DeprecationValue(at("2023-06-30T23:59:59Z").In(time.FixedZone("X", 5*3600))), "@1688169599"},
		// RFC 8594 section 3 gives "Sunset: Sat, 31 Dec 2018 23:59:59 GMT";
		// that day was a Monday (the example's weekday is wrong), and an
		// IMF-fixdate names the real one.
		{"sunset", SunsetValue(*at("2018-12-31T23:59:59Z")), "Mon, 31 Dec 2018 23:59:59 GMT"},
		{"sunset from another zone", SunsetValue(*at("2019-01-01T01:59:59+02:00")), "Mon, 31 Dec 2018 23:59:59 GMT"},
		// RFC 9745 section 3: the deprecation link.
		{"link", LinkValue("https://developer.example.com/deprecation", "deprecation", "text/html"),
			`<https://developer.example.com/deprecation>; rel="deprecation"; type="text/html"`},
		{"successor link", LinkValue("https://gw/products/p/v2/v1", "successor-version", ""),
			`<https://gw/products/p/v2/v1>; rel="successor-version"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
	// The sunset value parses back as an HTTP-date.
	if _, err := http.ParseTime(SunsetValue(time.Now())); err != nil {
		t.Fatal(err)
	}
}

func TestVersionHeaders(t *testing.T) {
	v1 := Version{Version: "v1", State: Deprecated, DeprecatedAt: at("2026-12-01T00:00:00Z"), SunsetAt: at("2030-01-01T00:00:00Z"), Successor: "v2"}
	for _, tc := range []struct {
		name string
		v    Version
		want map[string][]string
	}{
		{"deprecated with sunset and successor", v1, map[string][]string{
			"Deprecation": {"@1796083200"},
			"Sunset":      {"Tue, 01 Jan 2030 00:00:00 GMT"},
			"Link": {`<https://gw.example/products/support/v1/openapi.json>; rel="deprecation"; type="text/html"`,
				`<https://gw.example/products/support/v1/openapi.json>; rel="sunset"; type="text/html"`,
				`<https://gw.example/products/support/v2/v1>; rel="successor-version"`},
		}},
		{"deprecated, docs URL, no sunset, no successor", Version{Version: "v3", DeprecatedAt: at("2026-12-01T00:00:00Z"), Docs: "https://docs.example/v3"},
			map[string][]string{"Deprecation": {"@1796083200"}, "Link": {`<https://docs.example/v3>; rel="deprecation"; type="text/html"`}}},
		{"not deprecated", Version{Version: "v2"}, map[string][]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.v.Headers(VersionLinks("https://gw.example/", "support", &tc.v))
			if len(h) != len(tc.want) {
				t.Fatalf("headers %v, want %v", h, tc.want)
			}
			for k, want := range tc.want {
				if !slices.Equal(h.Values(k), want) {
					t.Errorf("%s: %q, want %q", k, h.Values(k), want)
				}
			}
		})
	}
}

func TestSunsetBeforeDeprecationRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    Version
		err  error
	}{
		{"sunset before deprecation", Version{Version: "v1", DeprecatedAt: at("2027-01-01T00:00:00Z"), SunsetAt: at("2026-12-31T23:59:59Z")}, ErrSunsetBeforeDeprecation},
		{"sunset equal to deprecation", Version{Version: "v1", DeprecatedAt: at("2027-01-01T00:00:00Z"), SunsetAt: at("2027-01-01T00:00:00Z")}, nil},
		{"sunset after", Version{Version: "v1", DeprecatedAt: at("2027-01-01T00:00:00Z"), SunsetAt: at("2028-01-01T00:00:00Z")}, nil},
		{"sunset alone", Version{Version: "v1", SunsetAt: at("2028-01-01T00:00:00Z")}, nil},
		{"successor itself", Version{Version: "v1", Successor: "v1"}, errors.New("")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.v.ValidateDates()
			switch {
			case tc.err == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != nil && err == nil:
				t.Fatal("accepted")
			case tc.err == ErrSunsetBeforeDeprecation && !errors.Is(err, ErrSunsetBeforeDeprecation):
				t.Fatalf("error %v", err)
			}
		})
	}
}

func TestSunsetPassed(t *testing.T) {
	v := Version{SunsetAt: at("2030-01-01T00:00:00Z")}
	for _, tc := range []struct {
		now  string
		want bool
	}{{"2029-12-31T23:59:59Z", false}, {"2030-01-01T00:00:00Z", true}, {"2031-01-01T00:00:00Z", true}} {
		if got := v.SunsetPassed(*at(tc.now)); got != tc.want {
			t.Errorf("at %s: %v", tc.now, got)
		}
	}
	if (&Version{}).SunsetPassed(time.Now()) {
		t.Error("no sunset passed")
	}
	if !strings.HasPrefix(BasePath("p", "v"), "/products/p/v") {
		t.Error(BasePath("p", "v"))
	}
}
