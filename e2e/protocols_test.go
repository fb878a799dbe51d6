package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	anthropicfake "github.com/sluicehq/sluice/internal/fakeprovider/anthropic"
	bedrockfake "github.com/sluicehq/sluice/internal/fakeprovider/bedrock"
	geminifake "github.com/sluicehq/sluice/internal/fakeprovider/gemini"
)

// The protocols gateway serves one model per provider type, each on a fake that
// speaks that provider's wire format: m-openai on the suite's OpenAI fake,
// m-anthropic on an Anthropic fake, m-gemini on a Gemini fake and m-bedrock on a
// Bedrock fake that verifies SigV4. A client reaches a model of its own protocol
// byte for byte and the others through translation.

// Credentials of the protocols gateway, planted and grepped for like the others.
var (
	awsKeyID  = "AKIDE2E" + strings.ToUpper(randHex(6))
	awsSecret = "CANARY-AWS-" + randHex(12)
	protoKey  = "gw-test-CANARY-proto-" + randHex(8) // the Go tests' key
	nodeKey   = "gw-test-CANARY-node-" + randHex(8)  // the Node tests' key
)

// target is a model of the protocols gateway and where it is served.
type target struct {
	model    string // the name clients send
	kind     string // the provider's type: openai, anthropic, gemini, bedrock
	provider string // the provider's name in the config and the ledger
	served   string // the upstream model
}

var (
	tOpenAI    = target{"m-openai", "openai", "p-openai", "fake-model-1"}
	tAnthropic = target{"m-anthropic", "anthropic", "p-anthropic", "claude-fake-1"}
	tBedrock   = target{"m-bedrock", "bedrock", "p-bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"}
	tGemini    = target{"m-gemini", "gemini", "p-gemini", "gemini-2.5-flash"}
)

// upstreams are the fakes behind the protocols gateway (OpenAI is the suite's fake).
var upstreams struct {
	anthropic *anthropicfake.Server
	gemini    *geminifake.Server
	bedrock   *bedrockfake.Server
	servers   []*httptest.Server
}

var (
	protoOnce sync.Once
	protoGW   *gateway
	protoErr  error
)

// protocolsConfig is the config of the protocols gateway.
func protocolsConfig(anthropicURL, geminiURL, bedrockURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `version: 1
providers:
  - {name: p-openai, type: openai, base_url: %q, api_key: "${UP_KEY}"}
  - {name: p-anthropic, type: anthropic, base_url: %q, api_key: "${UP_KEY}"}
  - {name: p-gemini, type: gemini, base_url: %q, api_key: "${UP_KEY}"}
  - name: p-bedrock
    type: bedrock
    base_url: %q
    region: us-east-1
    aws_access_key_id: %s
    aws_secret_access_key: "${AWS_SECRET_KEY}"
models:
`, fakeURL, anthropicURL, geminiURL, bedrockURL, awsKeyID)
	for _, t := range []target{tOpenAI, tAnthropic, tBedrock, tGemini} {
		p := prices[t.model]
		fmt.Fprintf(&b, "  - {name: %s, targets: [{provider: %s, model: %q}], pricing: {input_per_mtok: %g, output_per_mtok: %g, cached_input_per_mtok: %g}}\n",
			t.model, t.provider, t.served, p.input, p.output, p.cached)
	}
	fmt.Fprintf(&b, "keys:\n  - {name: proto, key: %s}\n  - {name: node, key: %s}\n", protoKey, nodeKey)
	return b.String()
}

// protocolsGateway returns the gateway of the protocol tests, started with its
// fakes on first use.
func protocolsGateway(t *testing.T) *gateway {
	t.Helper()
	protoOnce.Do(func() {
		upstreams.anthropic = anthropicfake.New(anthropicfake.Options{APIKey: provKey})
		upstreams.gemini = geminifake.New(geminifake.Options{APIKey: provKey})
		upstreams.bedrock = bedrockfake.New(bedrockfake.Options{AccessKeyID: awsKeyID, SecretAccessKey: awsSecret, Region: "us-east-1"})
		var urls []string
		for _, h := range []http.Handler{anthropicVersionShim(upstreams.anthropic), upstreams.gemini, upstreams.bedrock} {
			ts := httptest.NewServer(lingerShim(h))
			upstreams.servers = append(upstreams.servers, ts)
			urls = append(urls, ts.URL)
		}
		protoGW, protoErr = newGatewayWithConfig("protocols", protocolsConfig(urls[0], urls[1], urls[2]))
		if protoErr == nil {
			protoErr = protoGW.start()
		}
	})
	if protoErr != nil {
		t.Fatal(protoErr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("protocols gateway log tail:\n%s", protoGW.log.tail(4000))
		}
	})
	return protoGW
}

// HeaderClientVersion is where anthropicVersionShim keeps the anthropic-version the
// fake received before it rewrote it.
const HeaderClientVersion = "X-E2e-Anthropic-Version"

// anthropicVersionShim lets the Anthropic fake answer today's SDKs. The fake knows
// the API versions 2023-06-01 and 2023-01-01 only and answers 400 to others, while
// anthropic-sdk-go v2 and @anthropic-ai/sdk 1.x send "anthropic-version: 2026-10-21"
// (the SDKs read the fake's 2023-06-01 answers to these tests' requests without
// trouble). The shim passes that version to the fake as 2023-06-01 and keeps the
// original in HeaderClientVersion, where the fake's request log records it, so tests
// can check what the gateway forwarded.
func anthropicVersionShim(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Anthropic-Version"); v != "" {
			r.Header.Set(HeaderClientVersion, v)
			if v == "2026-10-21" {
				r.Header.Set("Anthropic-Version", anthropicfake.Version)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// HeaderLingerMs makes lingerShim hold a response open this many milliseconds after
// the fake has written all of it.
const HeaderLingerMs = "X-E2e-Linger-Ms"

// lingerShim holds a response open for HeaderLingerMs after the fake is done: an
// upstream whose last bytes (an error event, say) arrive a moment before its
// connection ends, as they do over a real network. It lets a test decide that the
// client reacts to those bytes before the gateway sees the upstream's end.
func lingerShim(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.Header.Get(HeaderLingerMs))
		next.ServeHTTP(w, r)
		if ms > 0 {
			_ = http.NewResponseController(w).Flush()
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-r.Context().Done():
			}
		}
	})
}

// stopProtocolsGateway stops the gateway and its fakes, if they were started.
func stopProtocolsGateway() {
	if protoGW != nil && protoErr == nil {
		if _, err := protoGW.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stopping the protocols gateway:", err)
		}
	}
	if upstreams.anthropic != nil {
		upstreams.anthropic.Close()
		upstreams.gemini.Close()
		upstreams.bedrock.Close()
	}
	for _, ts := range upstreams.servers {
		ts.CloseClientConnections()
		ts.Close()
	}
}

// upstreamReq is what a fake recorded about one request, whichever fake.
type upstreamReq struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// upstreamLog returns every request a kind of fake has received.
func upstreamLog(kind string) []upstreamReq {
	var out []upstreamReq
	switch kind {
	case "openai":
		for _, r := range fake.Requests() {
			out = append(out, upstreamReq{r.Method, r.Path, r.RawQuery, r.Header, r.Body})
		}
	case "anthropic":
		for _, r := range upstreams.anthropic.Requests() {
			out = append(out, upstreamReq{r.Method, r.Path, r.RawQuery, r.Header, r.Body})
		}
	case "gemini":
		for _, r := range upstreams.gemini.Requests() {
			out = append(out, upstreamReq{r.Method, r.Path, r.RawQuery, r.Header, r.Body})
		}
	case "bedrock":
		for _, r := range upstreams.bedrock.Requests() {
			out = append(out, upstreamReq{r.Method, r.Path, r.RawQuery, r.Header, r.Body})
		}
	default:
		panic("unknown provider kind " + kind)
	}
	return out
}

// withMarkerAt returns the requests a kind of fake received with this X-E2e-Marker.
func withMarkerAt(kind, marker string) []upstreamReq {
	var out []upstreamReq
	for _, r := range upstreamLog(kind) {
		if r.Header.Get("X-E2e-Marker") == marker {
			out = append(out, r)
		}
	}
	return out
}

// received waits until the fake of kind has received n requests with the marker
// and returns them in arrival order.
func received(t *testing.T, kind, marker string, n int) []upstreamReq {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := withMarkerAt(kind, marker)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %s upstream received %d requests with marker %s, want %d", kind, len(got), marker, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nowhereElse asserts that no fake but kind's received a request with the marker
// (with kind "", no fake at all). A fake records a request as it arrives, before the
// gateway can answer, so a test can call it as soon as it has its answer.
func nowhereElse(t *testing.T, kind, marker string) {
	t.Helper()
	for _, k := range []string{"openai", "anthropic", "gemini", "bedrock"} {
		if k != kind && len(withMarkerAt(k, marker)) > 0 {
			t.Errorf("the %s upstream received a request meant for %s", k, kind)
		}
	}
}

// checkProvenance asserts that an upstream request carries the provider's
// credential, and no client key or admin token anywhere in its headers.
func checkProvenance(t *testing.T, kind string, r upstreamReq) {
	t.Helper()
	switch kind {
	case "openai":
		if got := r.Header.Get("Authorization"); got != "Bearer "+provKey {
			t.Errorf("openai upstream Authorization = %q, want the provider key", got)
		}
	case "anthropic":
		if r.Header.Get("X-Api-Key") != provKey || r.Header.Get("Authorization") != "" {
			t.Errorf("anthropic upstream: x-api-key is not the provider key, or an Authorization header was sent")
		}
		if r.Header.Get(HeaderClientVersion) == "" {
			t.Errorf("anthropic upstream: no anthropic-version")
		}
	case "gemini":
		if r.Header.Get("X-Goog-Api-Key") != provKey && !strings.Contains(r.RawQuery, "key="+provKey) {
			t.Errorf("gemini upstream: the provider key is not in x-goog-api-key nor ?key=")
		}
	case "bedrock":
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="+awsKeyID+"/") {
			t.Errorf("bedrock upstream: Authorization %q is not a SigV4 signature with the configured key id", r.Header.Get("Authorization"))
		}
	}
	for name, values := range r.Header {
		for _, v := range values {
			for _, k := range []string{protoKey, nodeKey, adminToken, awsSecret} {
				if strings.Contains(v, k) {
					t.Errorf("a client credential or the AWS secret reached the %s upstream in header %s", kind, name)
				}
			}
		}
	}
	for _, k := range []string{protoKey, nodeKey, adminToken, awsSecret} {
		if strings.Contains(r.RawQuery, k) || strings.Contains(string(r.Body), k) {
			t.Errorf("a client credential or the AWS secret reached the %s upstream in its URL or body", kind)
		}
	}
}
