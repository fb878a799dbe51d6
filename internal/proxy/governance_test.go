package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/login"
	protocolanthropic "github.com/sluicehq/sluice/internal/protocol/anthropic"
	protocolopenai "github.com/sluicehq/sluice/internal/protocol/openai"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/store"
)

// unitsOf turns the file's organisations into stored units with ids named
// after them, as the server's sync would (with random ids).
func unitsOf(f *config.File) []store.Unit {
	lim := runtime.StoreLimits
	var us []store.Unit
	for _, o := range f.Orgs {
		org := "org_" + o.Name
		us = append(us, store.Unit{Kind: store.KindOrg, ID: org, OrgID: org, Name: o.Name, Limits: lim(o.Limits)})
		for _, t := range o.Teams {
			team := "team_" + t.Name
			us = append(us, store.Unit{Kind: store.KindTeam, ID: team, OrgID: org, TeamID: team, Name: t.Name, Limits: lim(t.Limits)})
			for _, a := range t.Applications {
				us = append(us, store.Unit{Kind: store.KindApp, ID: "app_" + a.Name, OrgID: org, TeamID: team, Name: a.Name, Limits: lim(a.Limits)})
			}
		}
	}
	return us
}

const (
	webKey1 = "gw-test-web-key-000001"
	webKey2 = "gw-test-web-key-000002"
)

// levelsEnv: two keys of one application, each with a $1.00 budget; their
// team has $0.60 for both; one request costs exactly $0.01.
func levelsEnv(t *testing.T) *env {
	return newEnv(t, func(f *config.File) {
		f.Models = append(f.Models, config.Model{Name: "cent", Targets: []config.Target{{Provider: "up", Model: "fake-model-1"}},
			Pricing: config.Pricing{InputPerMTok: 10_000, OutputPerMTok: 0}})
		budget := func(usd float64) config.Limits {
			return config.Limits{Budget: &config.Budget{AmountUSD: usd, Period: "monthly", ReserveUSD: 0.01}}
		}
		f.Orgs = []config.Org{{Name: "acme", Limits: budget(5), Teams: []config.Team{{Name: "search", Limits: budget(0.60),
			Applications: []config.App{{Name: "web", Limits: config.Limits{RPM: 100_000}}}}}}}
		f.Keys = append(f.Keys,
			config.Key{Name: "web1", Key: webKey1, Application: "acme/search/web", Limits: budget(1)},
			config.Key{Name: "web2", Key: webKey2, Application: "acme/search/web", Limits: budget(1)})
	})
}

// TestLevelsBudgetExact: 200 concurrent requests from two keys whose team
// budget allows 60 admit exactly 60, and the spend is the same summed by
// key, application, team and organisation (K1 at several levels, K3).
func TestLevelsBudgetExact(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "non-stream", true: "stream"}[stream], func(t *testing.T) {
			e := levelsEnv(t)
			body := `{"model":"cent","messages":[{"role":"user","content":"hi"}]}`
			if stream {
				body = `{"model":"cent","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
			}
			// The team's refusal names the level.
			ok, refused := burst(t, e, 200, body, func(i int) string { return []string{webKey1, webKey2}[i%2] }, "for this team")
			if ok != 60 || refused != 140 {
				t.Fatalf("admitted %d, refused %d; want exactly 60 and 140", ok, refused)
			}
			sums := map[string]int64{}
			for _, en := range e.waitEntries(t, 200) {
				if en.HTTPStatus != 200 {
					continue
				}
				if en.AppID != "app_web" || en.TeamID != "team_search" || en.OrgID != "org_acme" {
					t.Fatalf("entry not placed: %+v", en)
				}
				sums["key:"+en.KeyID] += en.CostMicros
				sums["app"] += en.CostMicros
				sums["team"] += en.CostMicros
				sums["org"] += en.CostMicros
			}
			var keys int64
			for k, v := range sums {
				if strings.HasPrefix(k, "key:") {
					keys += v
				}
			}
			if keys != 600_000 || sums["app"] != 600_000 || sums["team"] != 600_000 || sums["org"] != 600_000 {
				t.Fatalf("spend by level %v; want 600000 micro-dollars everywhere", sums)
			}
		})
	}
}

// TestModelLimitInClientDialect: a model's own rpm applies to every key,
// and the refusal is in the client's dialect with the rate-limit headers.
func TestModelLimitInClientDialect(t *testing.T) {
	e := newEnvWith(t, func(o *Options) {
		o.Codecs = Codecs{
			Clients:   map[provider.Protocol]llm.ClientCodec{provider.ProtocolAnthropic: protocolanthropic.Client},
			Upstreams: map[provider.Protocol]llm.UpstreamCodec{provider.ProtocolOpenAI: protocolopenai.Upstream},
		}
	}, func(f *config.File) { f.Models[0].RPM = 3 })
	for i := range 3 {
		if resp := e.post(t, "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer " + clientKey}); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, readAll(t, resp))
		} else {
			readAll(t, resp)
		}
	}
	resp := e.post(t, "/v1/messages", `{"model":"chat-small","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"x-api-key": limitedKey, "anthropic-version": "2023-06-01"})
	b := readAll(t, resp)
	if resp.StatusCode != 429 || !strings.Contains(b, `"type":"error"`) || !strings.Contains(b, "rate_limit_error") || !strings.Contains(b, "model") {
		t.Fatalf("4th request to the model: %d %s", resp.StatusCode, b)
	}
	if resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-Ratelimit-Limit-Requests") != "3" || resp.Header.Get("X-Ratelimit-Remaining-Requests") != "0" {
		t.Fatalf("headers %v", resp.Header)
	}
}

// TestKeyScopes: a key limited to some endpoints and networks is refused
// elsewhere, in the client's dialect; X-Forwarded-For counts only from a
// trusted proxy.
func TestKeyScopes(t *testing.T) {
	const embOnly, office = "gw-test-embeddings-only", "gw-test-office-network"
	e := newEnv(t, func(f *config.File) {
		f.Keys = append(f.Keys, config.Key{Name: "emb", Key: embOnly, Endpoints: []string{"embeddings"}},
			config.Key{Name: "office", Key: office, SourceNetworks: []string{"10.0.0.0/8"}})
		f.Access.TrustedProxies = []string{"127.0.0.1/32"}
	})
	tests := []struct {
		name, key, path, body, xff string
		want                       int
		code                       string
	}{
		{"endpoint allowed", embOnly, "/v1/embeddings", `{"model":"chat-small","input":"x"}`, "", 200, ""},
		{"endpoint refused", embOnly, "/v1/chat/completions", chatBody, "", 403, "endpoint_not_allowed"},
		{"endpoint refused anthropic", embOnly, "/v1/messages", `{"model":"chat-small","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, "", 403, "permission_error"},
		{"network refused", office, "/v1/chat/completions", chatBody, "", 403, "source_not_allowed"},
		{"network via trusted proxy", office, "/v1/chat/completions", chatBody, "10.1.2.3", 200, ""},
		{"proxy chain: rightmost untrusted hop counts", office, "/v1/chat/completions", chatBody, "10.9.9.9, 192.0.2.1", 403, "source_not_allowed"},
		{"malformed chain", office, "/v1/chat/completions", chatBody, "not-an-ip", 403, "source_not_allowed"},
	}
	for _, tt := range tests {
		hdr := map[string]string{"Authorization": "Bearer " + tt.key, "anthropic-version": "2023-06-01"}
		if tt.xff != "" {
			hdr["X-Forwarded-For"] = tt.xff
		}
		resp := e.post(t, tt.path, tt.body, hdr)
		b := readAll(t, resp)
		if resp.StatusCode != tt.want || !strings.Contains(b, tt.code) {
			t.Errorf("%s: %d %s, want %d %s", tt.name, resp.StatusCode, b, tt.want, tt.code)
		}
	}
}

// TestInvalidKeyFlood (S7): an address that sends many invalid keys is
// throttled after the burst, while a valid key from it still works; the
// lookup never leaves memory.
func TestInvalidKeyFlood(t *testing.T) {
	e := newEnvWith(t, func(o *Options) { o.Throttle = login.NewThrottle(20, nil) })
	var unauthorized, throttled int
	began := time.Now()
	for i := range 500 {
		resp := e.post(t, "/v1/chat/completions", chatBody, map[string]string{"Authorization": fmt.Sprintf("Bearer gw-guess-%06d", i)})
		b := readAll(t, resp)
		switch resp.StatusCode {
		case 401:
			unauthorized++
		case 429:
			if !strings.Contains(b, "too_many_invalid_keys") || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("429 without reason: %s %v", b, resp.Header)
			}
			throttled++
		default:
			t.Fatalf("guess %d: %d %s", i, resp.StatusCode, b)
		}
		if i%100 == 0 {
			if ok := e.post(t, "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer " + clientKey}); ok.StatusCode != 200 {
				t.Fatalf("the valid key was refused during the flood: %d %s", ok.StatusCode, readAll(t, ok))
			} else {
				readAll(t, ok)
			}
		}
	}
	// The burst is 20; the throttle lets one more guess through every 3 s.
	if most := 20 + int(time.Since(began)/(3*time.Second)) + 1; unauthorized < 20 || unauthorized > most || throttled != 500-unauthorized {
		t.Fatalf("401: %d, 429: %d; want 20 to %d guesses answered, then 429", unauthorized, throttled, most)
	}
}

// TestSelfUsageShowsEveryLevel: a key reads its own limits and those of its
// application, team and organisation, with the spend against each.
func TestSelfUsageShowsEveryLevel(t *testing.T) {
	e := levelsEnv(t)
	for range 3 {
		resp := e.post(t, "/v1/chat/completions", `{"model":"cent","messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"Authorization": "Bearer " + webKey2, "X-Fake-Prompt-Tokens": "1", "X-Fake-Completion-Tokens": "0"})
		if b := readAll(t, resp); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, e.server.URL+"/v1/sluice/usage", nil)
	req.Header.Set("Authorization", "Bearer "+webKey1)
	resp, err := e.server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v usageView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := map[string]string{}
	for _, l := range v.Levels {
		s := fmt.Sprintf("%s rpm=%d", l.Name, l.Limits.RPM)
		if l.Budget != nil {
			s += fmt.Sprintf(" spent=%d remaining=%d", l.Budget.SpentMicros, l.Budget.RemainingMicros)
		}
		got[l.Scope] = s
	}
	want := map[string]string{
		"application":  "acme/search/web rpm=100000",
		"team":         "acme/search rpm=0 spent=30000 remaining=570000",
		"organisation": "acme rpm=0 spent=30000 remaining=4970000",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("levels %v\nwant %v", got, want)
	}
	if v.Budget == nil || v.Budget.SpentMicros != 0 || v.Budget.AmountMicros != 1_000_000 {
		t.Fatalf("the key's own budget %+v", v.Budget)
	}
}

// TestModelBudgetSeededFromLedger: a model's budget starts from the spend
// the ledger holds for the model, like every other level.
func TestModelBudgetSeededFromLedger(t *testing.T) {
	var asked []string
	e := newEnvWith(t, func(o *Options) {
		o.SpendSince = func(_ context.Context, column, id string, _ time.Time) (int64, error) {
			asked = append(asked, column+"="+id)
			if column == "model" && id == "cent" {
				return 990_000, nil
			}
			return 0, nil
		}
	}, func(f *config.File) {
		f.Models = append(f.Models, config.Model{Name: "cent", Targets: []config.Target{{Provider: "up", Model: "fake-model-1"}},
			Pricing: config.Pricing{InputPerMTok: 10_000}, Limits: config.Limits{Budget: &config.Budget{AmountUSD: 1, ReserveUSD: 0.01}}})
	})
	body := `{"model":"cent","messages":[{"role":"user","content":"hi"}]}`
	hdr := map[string]string{"Authorization": "Bearer " + clientKey, "X-Fake-Prompt-Tokens": "1", "X-Fake-Completion-Tokens": "0"}
	for i, want := range []int{200, 429} {
		resp := e.post(t, "/v1/chat/completions", body, hdr)
		if b := readAll(t, resp); resp.StatusCode != want {
			t.Fatalf("request %d: %d %s, want %d", i, resp.StatusCode, b, want)
		}
	}
	if fmt.Sprint(asked) != "[model=cent]" {
		t.Fatalf("ledger reads %v, want one for the model", asked)
	}
}
