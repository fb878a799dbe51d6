package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// AnyStoredProvider, given as a stored provider name, stands for any name
// the file does not declare: for checking a file before the store, which
// holds the providers created through the admin API, is opened.
const AnyStoredProvider = "*"

// Validate checks values and references and returns Problems listing every
// one found, or nil. Targets may also name storedProviders (those created
// through the admin API); the file must not declare one of those names.
func (f *File) Validate(storedProviders ...string) error {
	var ps Problems
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	switch f.Version {
	case 0:
		add("version", "missing; this build reads version: %d", CurrentVersion)
	case CurrentVersion:
	default:
		add("version", "unsupported version %d; this build reads version: %d", f.Version, CurrentVersion)
	}

	providers := map[string]bool{}
	for i, p := range f.Providers {
		at := fmt.Sprintf("providers[%d]", i)
		if !validName(p.Name) {
			add(at+".name", "must be 1-64 characters of letters, digits, '-', '_' or '.'")
		} else if providers[p.Name] {
			add(at+".name", "duplicate provider name %q", p.Name)
		} else if slices.Contains(storedProviders, p.Name) {
			add(at+".name", "a provider named %q was created through the admin API; rename one of them", p.Name)
		}
		providers[p.Name] = true
		switch p.Type {
		case TypeOpenAI, TypeAzureOpenAI, TypeAnthropic, TypeGemini, TypeBedrock:
			switch {
			case p.BaseURL == "" && p.Type == TypeBedrock:
				if p.Region == "" {
					add(at+".region", "required for type bedrock when base_url is not given")
				}
			case p.BaseURL == "":
				add(at+".base_url", "required for type %s", p.Type)
			default:
				if u, err := url.Parse(p.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					add(at+".base_url", "must be an absolute http:// or https:// URL")
				} else if u.User != nil || u.Fragment != "" || u.RawQuery != "" {
					add(at+".base_url", "must not carry user info, a query or a fragment")
				}
			}
			if p.Type == TypeBedrock && (p.AWSAccessKeyID == "") != (p.AWSSecretAccessKey == "") {
				add(at+".aws_secret_access_key", "aws_access_key_id and aws_secret_access_key go together")
			}
			if p.Type == TypeBedrock && p.AWSAccessKeyID == "" && p.APIKey == "" && len(p.APIKeys) == 0 {
				add(at+".aws_access_key_id", "required for type bedrock (or Bedrock API keys in api_key or api_keys)")
			}
			if p.Type == TypeBedrock && p.AWSAccessKeyID != "" && len(p.APIKeys) > 0 {
				// A pool key replaces the signature on every attempt, so the
				// AWS keys would never be used.
				add(at+".api_keys", "give AWS keys or a pool of Bedrock API keys, not both")
			}
			if p.Type == TypeBedrock && p.Region == "" {
				add(at+".region", "required for type bedrock (it is part of the request signature)")
			}
		case TypeDemo:
		case "":
			add(at+".type", "required; one of %s", strings.Join(ProviderTypes, ", "))
		default:
			add(at+".type", "unknown provider type %q; one of %s", p.Type, strings.Join(ProviderTypes, ", "))
		}
		if strings.ContainsAny(p.APIKey+p.APIVersion+p.Region+p.AWSAccessKeyID+p.AWSSecretAccessKey+p.AWSSessionToken, "\r\n\x00") {
			add(at+".api_key", "must not contain control characters")
		}
		for h, v := range p.Headers {
			if h == "" || strings.ContainsAny(h+v, "\r\n\x00") || strings.ContainsAny(h, " :") {
				add(at+".headers."+h, "invalid header name or value")
			}
		}
		for name, d := range map[string]Duration{"connect": p.Timeouts.Connect, "first_byte": p.Timeouts.FirstByte,
			"stall": p.Timeouts.Stall, "total": p.Timeouts.Total} {
			if d < 0 {
				add(at+".timeouts."+name, "must not be negative")
			}
		}
		if p.APIKey != "" && len(p.APIKeys) > 0 {
			add(at+".api_keys", "give api_key or api_keys, not both")
		}
		for j, k := range p.APIKeys {
			if k == "" || strings.ContainsAny(k, "\r\n\x00") {
				add(fmt.Sprintf("%s.api_keys[%d]", at, j), "must be a non-empty key without control characters")
			}
		}
		for j, code := range p.RetryOn {
			if code < 400 || code > 599 {
				add(fmt.Sprintf("%s.retry_on[%d]", at, j), "must be an HTTP error status (400-599)")
			}
		}
		if p.InjectStreamUsage != nil && p.Type != TypeOpenAI && p.Type != TypeAzureOpenAI {
			add(at+".inject_stream_usage", "only for types %s and %s", TypeOpenAI, TypeAzureOpenAI)
		}
	}

	for _, name := range storedProviders {
		providers[name] = true
	}

	models := map[string]bool{}
	for i, m := range f.Models {
		at := fmt.Sprintf("models[%d]", i)
		if m.Name == "" || len(m.Name) > 256 || strings.ContainsAny(m.Name, "\r\n\x00") {
			add(at+".name", "required, at most 256 characters")
		} else if models[m.Name] {
			add(at+".name", "duplicate model name %q", m.Name)
		}
		models[m.Name] = true
		if len(m.Targets) == 0 {
			add(at+".targets", "at least one target is required")
		}
		checkTargets := func(at string, targets []Target, r Routing) {
			for j, t := range targets {
				tat := fmt.Sprintf("%s.targets[%d]", at, j)
				if t.Provider == "" {
					add(tat+".provider", "required")
				} else if !providers[t.Provider] && !providers[AnyStoredProvider] {
					add(tat+".provider", "no provider named %q", t.Provider)
				}
				if t.Model == "" {
					add(tat+".model", "required: the upstream model name")
				}
				if t.Weight < 0 || t.Weight > 1_000_000 {
					add(tat+".weight", "must be between 0 and 1000000")
				}
			}
			if r.Policy != "" && !slices.Contains(RoutingPolicies, r.Policy) {
				add(at+".routing.policy", "unknown policy %q; one of %s", r.Policy, strings.Join(RoutingPolicies, ", "))
			}
			if r.Sticky != "" && r.Sticky != "key" && r.Sticky != "user" && (!strings.HasPrefix(r.Sticky, "header:") || len(r.Sticky) == 7) {
				add(at+".routing.sticky", "must be key, user or header:<name>")
			}
			if r.MaxAttempts < 0 || r.MaxAttempts > 10 {
				add(at+".routing.max_attempts", "must be between 1 and 10")
			}
			if r.Policy == "canary" || r.Policy == "weighted" {
				sum := 0
				for _, t := range targets {
					sum += t.Weight
				}
				if r.Policy == "canary" && sum == 0 {
					add(at+".targets", "canary needs weights (each target's share)")
				}
			}
		}
		checkTargets(at, m.Targets, m.Routing)
		for j, rt := range m.Routes {
			rat := fmt.Sprintf("%s.routes[%d]", at, j)
			if len(rt.Targets) == 0 {
				add(rat+".targets", "at least one target is required")
			}
			checkTargets(rat, rt.Targets, rt.Routing)
			if rt.Match.MinMaxTokens < 0 || rt.Match.MinInputTokens < 0 {
				add(rat+".match", "token thresholds must not be negative")
			}
			for h := range rt.Match.Headers {
				if h == "" || strings.ContainsAny(h, " :\r\n") {
					add(rat+".match.headers."+h, "invalid header name")
				}
			}
		}
		for name, v := range map[string]float64{
			"input_per_mtok": m.Pricing.InputPerMTok, "output_per_mtok": m.Pricing.OutputPerMTok,
			"cached_input_per_mtok": m.Pricing.CachedInputPerMTok,
		} {
			if v < 0 || v > 1e6 || v != v {
				add(at+".pricing."+name, "must be between 0 and 1000000 dollars per million tokens")
			}
		}
	}

	apps := f.validateGovernance(add)
	f.validateProducts(add)
	f.validateObservability(add)
	f.validatePrompts(models, add)
	f.validateGuardrails(add)
	f.validateAlertRules(add)
	f.validateExperiments(add)
	f.validateRequestLog(add)
	f.validateModelLifecycle(models, add)
	for i, m := range f.Models {
		m.Limits.validate(fmt.Sprintf("models[%d]", i), add)
	}
	keyNames := map[string]bool{}
	keyValues := map[string]bool{}
	for i, k := range f.Keys {
		at := fmt.Sprintf("keys[%d]", i)
		if !validName(k.Name) {
			add(at+".name", "must be 1-64 characters of letters, digits, '-', '_' or '.'")
		} else if keyNames[k.Name] {
			add(at+".name", "duplicate key name %q", k.Name)
		}
		keyNames[k.Name] = true
		switch {
		case len(k.Key) < 16:
			add(at+".key", "must be at least 16 characters")
		case len(k.Key) > 512 || strings.ContainsAny(k.Key, " \t\r\n\x00"):
			add(at+".key", "must be at most 512 characters without spaces or control characters")
		case keyValues[k.Key]:
			add(at+".key", "the same key value is declared twice")
		}
		keyValues[k.Key] = true
		k.Limits.validate(at, add)
		if k.Application != "" && !apps[k.Application] {
			add(at+".application", "no application %q (write org/team/application, as declared under orgs)", k.Application)
		}
		for j, e := range k.Endpoints {
			if !slices.Contains(EndpointScopes, e) {
				add(fmt.Sprintf("%s.endpoints[%d]", at, j), "must be one of %s", strings.Join(EndpointScopes, ", "))
			}
		}
		for j, n := range k.SourceNetworks {
			if _, err := ParseNetwork(n); err != nil {
				add(fmt.Sprintf("%s.source_networks[%d]", at, j), "%v", err)
			}
		}
		for j, m := range k.Models {
			if !models[m] {
				add(fmt.Sprintf("%s.models[%d]", at, j), "no model named %q", m)
			}
		}
	}
	if len(ps) == 0 {
		return nil
	}
	slices.SortStableFunc(ps, func(a, b Problem) int { return strings.Compare(a.Path, b.Path) })
	return ps
}

// RoutingPolicies lists the accepted values of routing.policy.
var RoutingPolicies = []string{"weighted", "priority", "least-latency", "least-inflight", "lowest-cost", "canary"}

// ValidName reports whether s is a valid name for a provider, model, key,
// organisation, team or application: 1-64 letters, digits, '-', '_', '.'.
func ValidName(s string) bool { return validName(s) }

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		ok := r == '-' || r == '_' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}
