package product

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestOpenAPIExposesExactlyTheVersion(t *testing.T) {
	p := &Product{Name: "support", Title: "Support bot", Team: "acme/search", Visibility: Internal}
	for _, tc := range []struct {
		name      string
		v         Version
		wantPaths []string
		wantEnum  []string
		err       bool
	}{
		{"all endpoints", Version{Version: "v1", State: Published, Models: map[string]string{"gpt-4o-mini": "gpt-4o-mini", "fast": "m2"}},
			[]string{"/v1/chat/completions", "/v1/messages", "/v1/models", "/v1/responses",
				"/v1beta/models/{model}:generateContent", "/v1beta/models/{model}:streamGenerateContent"}, []string{"fast", "gpt-4o-mini"}, false},
		{"chat only", Version{Version: "v2", State: Deprecated, Endpoints: []string{"chat"}, Models: map[string]string{"a": "a"}},
			[]string{"/v1/chat/completions", "/v1/models"}, []string{"a"}, false},
		{"draft", Version{Version: "v3", State: Draft}, nil, nil, true},
		{"retired", Version{Version: "v0", State: Retired}, nil, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := OpenAPI(p, &tc.v)
			if tc.err {
				if err == nil {
					t.Fatal("a document for a version that is not served")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				OpenAPI string                    `json:"openapi"`
				Info    map[string]any            `json:"info"`
				Servers []map[string]string       `json:"servers"`
				Paths   map[string]map[string]any `json:"paths"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			var paths []string
			for k := range doc.Paths {
				paths = append(paths, k)
			}
			slices.Sort(paths)
			if !slices.Equal(paths, tc.wantPaths) {
				t.Fatalf("paths %v, want %v", paths, tc.wantPaths)
			}
			if doc.OpenAPI != "3.1.0" || doc.Info["version"] != tc.v.Version || doc.Servers[0]["url"] != "/products/support/"+tc.v.Version {
				t.Fatalf("header %q %v %v", doc.OpenAPI, doc.Info, doc.Servers)
			}
			op := doc.Paths["/v1/chat/completions"]["post"].(map[string]any)
			enum := op["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)["model"].(map[string]any)["enum"].([]any)
			var got []string
			for _, e := range enum {
				got = append(got, e.(string))
			}
			if !slices.Equal(got, tc.wantEnum) {
				t.Fatalf("model enum %v, want %v", got, tc.wantEnum)
			}
			again, _ := OpenAPI(p, &tc.v)
			if string(again) != string(b) {
				t.Fatal("not deterministic")
			}
		})
	}
}

func TestPlanValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Plan
		ok   bool
	}{
		{"manual", Plan{Name: "free", RPM: 10, Approval: Manual}, true},
		{"auto with quota", Plan{Name: "open", Quota: 1000, QuotaPeriod: "daily", Approval: Auto}, true},
		{"no approval", Plan{Name: "x"}, false},
		{"bad name", Plan{Name: "a/b", Approval: Auto}, false},
		{"negative rpm", Plan{Name: "x", RPM: -1, Approval: Auto}, false},
		{"bad period", Plan{Name: "x", QuotaPeriod: "hourly", Approval: Auto}, false},
		{"negative duration", Plan{Name: "x", Duration: -1, Approval: Auto}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
	for _, tc := range []struct {
		p    Plan
		v    string
		want bool
	}{{Plan{}, "v1", true}, {Plan{Versions: []string{"v2"}}, "v1", false}, {Plan{Versions: []string{"v1", "v2"}}, "v1", true}} {
		if got := tc.p.AllowsVersion(tc.v); got != tc.want {
			t.Errorf("%v allows %s: %v", tc.p.Versions, tc.v, got)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{{"support", true}, {"v1.2", true}, {"", false}, {"..", false}, {"a/b", false}, {"a b", false}, {string(make([]byte, 65)), false}} {
		if ValidName(tc.s) != tc.ok {
			t.Errorf("ValidName(%q) != %v", tc.s, tc.ok)
		}
	}
}
