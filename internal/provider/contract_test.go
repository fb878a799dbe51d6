package provider_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/provider/anthropic"
	"github.com/sluicehq/sluice/internal/provider/azure"
	"github.com/sluicehq/sluice/internal/provider/bedrock"
	"github.com/sluicehq/sluice/internal/provider/demo"
	"github.com/sluicehq/sluice/internal/provider/gemini"
	"github.com/sluicehq/sluice/internal/provider/openai"
)

// The adapter contract, checked against every provider type: what goes
// upstream as a credential (the configured key, a pool key in its place,
// never the client's Sluice key, no credential header twice), the headers
// each upstream requires, configured extra headers, the URL of each
// operation, and cancellation (a cancelled context ends the upstream call
// at once, before the answer's headers or in the middle of its body).

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	sluiceKey = "sk-sluice-client-0123456789" // the client's key to Sluice
	confKey   = "conf-key-0123456789"         // the provider's configured key
	poolKey   = "pool-key-0123456789"         // a key from the provider's pool
	awsKeyID  = "AKIDCONFIGURED"
)

// credentialHeaders are every header that carries a credential to one of
// the upstreams.
var credentialHeaders = []string{"Authorization", "X-Api-Key", "Api-Key", "X-Goog-Api-Key", "X-Amz-Security-Token", "Proxy-Authorization", "Cookie"}

// urlCase is one operation's expected request target (path and query).
type urlCase struct {
	op     provider.Operation
	model  string
	stream bool
	want   string // "" when the provider does not have the operation
}

type adapterCase struct {
	typ string
	// build returns the adapter for spec, as internal/app's registry does.
	build func(provider.Spec) (provider.Adapter, error)
	// configure gives spec its configured credential; nil for a type that
	// has none (demo).
	configure func(*provider.Spec)
	// credHeader carries the credential; configured checks its value with
	// the configured credential, pool is its value for a pool key ("" when
	// the type takes no pool).
	credHeader string
	configured func(string) bool
	pool       func(key string) string
	// withConfigured are credential headers that come with the configured
	// credential only, and their values.
	withConfigured map[string]string
	// keyless reports that the type may be configured with no credential.
	keyless bool
	// required are headers every request carries.
	required map[string]string
	urls     []urlCase
	// demo marks the in-process demo model (no network, no credentials,
	// no configured headers).
	demo bool
}

func equals(want string) func(string) bool { return func(v string) bool { return v == want } }

var cases = []adapterCase{
	{
		typ: "openai",
		build: func(s provider.Spec) (provider.Adapter, error) {
			return openai.New(openai.Options{Name: s.Name, BaseURL: s.BaseURL + "/v1", APIKey: s.APIKey, Headers: s.Headers, Timeout: s.Timeout, Client: s.Client}), nil
		},
		configure:  func(s *provider.Spec) { s.APIKey = confKey },
		credHeader: "Authorization", configured: equals("Bearer " + confKey),
		pool:     func(k string) string { return "Bearer " + k },
		keyless:  true,
		required: map[string]string{"Content-Type": "application/json", "Accept": "application/json"},
		urls: []urlCase{
			{provider.OpChat, "gpt-4o", false, "/v1/chat/completions"},
			{provider.OpChat, "gpt-4o", true, "/v1/chat/completions"},
			{provider.OpEmbeddings, "text-embedding-3-small", false, "/v1/embeddings"},
			{provider.OpResponses, "gpt-4o", false, "/v1/responses"},
			{provider.OpCountTokens, "gpt-4o", false, ""},
		},
	},
	{
		typ:        "azure",
		build:      azure.New,
		configure:  func(s *provider.Spec) { s.APIKey = confKey },
		credHeader: "Api-Key", configured: equals(confKey),
		pool:     func(k string) string { return k },
		keyless:  true,
		required: map[string]string{"Content-Type": "application/json", "Accept": "application/json"},
		urls: []urlCase{
			{provider.OpChat, "gpt-4o", false, "/openai/deployments/gpt-4o/chat/completions?api-version=" + azure.DefaultAPIVersion},
			{provider.OpChat, "my deployment", true, "/openai/deployments/my%20deployment/chat/completions?api-version=" + azure.DefaultAPIVersion},
			{provider.OpEmbeddings, "emb", false, "/openai/deployments/emb/embeddings?api-version=" + azure.DefaultAPIVersion},
			{provider.OpResponses, "gpt-4o", false, "/openai/v1/responses"},
			{provider.OpCountTokens, "gpt-4o", false, ""},
		},
	},
	{
		typ:        "anthropic",
		build:      anthropic.New,
		configure:  func(s *provider.Spec) { s.APIKey = confKey },
		credHeader: "X-Api-Key", configured: equals(confKey),
		pool:     func(k string) string { return k },
		keyless:  true,
		required: map[string]string{"Content-Type": "application/json", "Accept": "application/json", "Anthropic-Version": "2023-06-01"},
		urls: []urlCase{
			{provider.OpChat, "claude-sonnet-4-5", false, "/v1/messages"},
			{provider.OpChat, "claude-sonnet-4-5", true, "/v1/messages"},
			{provider.OpCountTokens, "claude-sonnet-4-5", false, "/v1/messages/count_tokens"},
			{provider.OpEmbeddings, "claude-sonnet-4-5", false, ""},
		},
	},
	{
		typ:        "gemini",
		build:      gemini.New,
		configure:  func(s *provider.Spec) { s.APIKey = confKey },
		credHeader: "X-Goog-Api-Key", configured: equals(confKey),
		pool:     func(k string) string { return k },
		keyless:  true,
		required: map[string]string{"Content-Type": "application/json", "Accept": "application/json"},
		urls: []urlCase{
			{provider.OpChat, "gemini-2.0-flash", false, "/v1beta/models/gemini-2.0-flash:generateContent"},
			{provider.OpChat, "models/gemini-2.0-flash", true, "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"},
			{provider.OpCountTokens, "gemini-2.0-flash", false, "/v1beta/models/gemini-2.0-flash:countTokens"},
			{provider.OpChat, "tunedModels/my-model", false, "/v1beta/tunedModels/my-model:generateContent"},
			{provider.OpChat, "a:b/c", false, "/v1beta/models/a%3Ab%2Fc:generateContent"},
			{provider.OpEmbeddings, "gemini-2.0-flash", false, ""},
		},
	},
	{
		typ:   "bedrock (AWS keys)",
		build: bedrock.New,
		configure: func(s *provider.Spec) {
			s.Region, s.AWSAccessKeyID, s.AWSSecretAccessKey, s.AWSSessionToken = "us-east-1", awsKeyID, "secret/"+confKey, "session-token"
		},
		credHeader: "Authorization",
		configured: func(v string) bool {
			return strings.HasPrefix(v, "AWS4-HMAC-SHA256 Credential="+awsKeyID+"/") && strings.Contains(v, "/us-east-1/bedrock/aws4_request, SignedHeaders=")
		},
		withConfigured: map[string]string{"X-Amz-Security-Token": "session-token"},
		// A pool key is a Bedrock API key, sent as a bearer token in place
		// of the signature.
		pool:     func(k string) string { return "Bearer " + k },
		required: map[string]string{"Content-Type": "application/json", "Accept": "application/json"},
		urls: []urlCase{
			{provider.OpChat, "anthropic.claude-3-5-sonnet-20240620-v1:0", false, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"},
			{provider.OpChat, "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0", true,
				"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream"},
			{provider.OpEmbeddings, "m", false, ""},
		},
	},
	{
		typ:        "bedrock (API key)",
		build:      bedrock.New,
		configure:  func(s *provider.Spec) { s.Region, s.APIKey = "us-east-1", confKey },
		credHeader: "Authorization", configured: equals("Bearer " + confKey),
		pool:     func(k string) string { return "Bearer " + k },
		required: map[string]string{"Content-Type": "application/json", "Accept": "application/json"},
		urls: []urlCase{
			{provider.OpChat, "meta.llama3-70b-instruct-v1:0", false, "/model/meta.llama3-70b-instruct-v1%3A0/converse"},
			{provider.OpCountTokens, "m", false, ""},
		},
	},
	{
		typ: "demo",
		build: func(s provider.Spec) (provider.Adapter, error) {
			// As internal/app builds it: the demo's base URL, no key and
			// no configured headers, whatever the provider says.
			return openai.New(openai.Options{Name: s.Name, BaseURL: demo.BaseURL, Timeout: s.Timeout, Client: s.Client}), nil
		},
		keyless:  true,
		required: map[string]string{"Content-Type": "application/json", "Accept": "application/json"},
		urls: []urlCase{
			{provider.OpChat, "demo", false, "/v1/chat/completions"},
			{provider.OpEmbeddings, "demo", false, "/v1/embeddings"},
		},
		demo: true,
	},
}

// seen is what the upstream received.
type seen struct {
	target string // the request target's path and query, as sent
	header http.Header
}

// upstream stands for the provider: an httptest server, or for the demo
// the demo model's in-process transport. It records every request and
// answers as its mode says.
type upstream struct {
	mu   sync.Mutex
	reqs []seen
	mode string // "" answers at once; "hang" never answers; "stream" sends one chunk, then waits

	arrived   chan struct{} // one send per request
	cancelled chan struct{} // one send per request whose context ended while it waited
}

func (u *upstream) handler(answer http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body, as a provider does: only then does the server
		// notice that the client went away.
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		target := r.RequestURI
		if target == "" { // in-process: the outgoing request
			target = r.URL.RequestURI()
		}
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{target: target, header: r.Header.Clone()})
		mode := u.mode
		u.mu.Unlock()
		u.arrived <- struct{}{}
		switch mode {
		case "stream":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: {}\n\n")
			w.(http.Flusher).Flush()
			fallthrough
		case "hang":
			<-r.Context().Done()
			u.cancelled <- struct{}{}
		default:
			answer.ServeHTTP(w, r)
		}
	})
}

func (u *upstream) last(t *testing.T) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("nothing reached the upstream")
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// start returns the adapter of tc for an upstream in mode; mod, when set,
// changes the spec before the adapter is built.
func start(t *testing.T, tc adapterCase, mode string, mod func(*provider.Spec)) (provider.Adapter, *upstream) {
	t.Helper()
	u := &upstream{mode: mode, arrived: make(chan struct{}, 16), cancelled: make(chan struct{}, 16)}
	spec := provider.Spec{Name: "up", Type: tc.typ, Timeout: time.Minute}
	if tc.demo {
		spec.Client = &http.Client{Transport: demo.Transport{Handler: u.handler(demo.Handler())}}
	} else {
		srv := httptest.NewServer(u.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, "{}")
		})))
		t.Cleanup(srv.Close)
		spec.BaseURL, spec.Client = srv.URL, srv.Client()
	}
	if mod != nil {
		mod(&spec)
	}
	a, err := tc.build(spec)
	if err != nil {
		t.Fatal(err)
	}
	return a, u
}

// chatBody is valid for the demo model and opaque to every adapter.
const chatBody = `{"model":"demo","messages":[{"role":"user","content":"hi"}],"input":"hi"}`

// clientHeaders are what a client sent, its Sluice key in every credential
// header (as a caller that forgot to strip them would pass them), some
// under non-canonical names.
func clientHeaders() http.Header {
	h := http.Header{"X-Client-Trace": {"trace-1"}}
	for _, k := range credentialHeaders {
		h[k] = []string{"Bearer " + sluiceKey}
	}
	h["authorization"] = []string{"Bearer " + sluiceKey}
	h["x-api-key"] = []string{sluiceKey}
	h["x-amz-date"] = []string{"19990101T000000Z"}
	return h
}

func do(t *testing.T, a provider.Adapter, u *upstream, req *provider.Request) seen {
	t.Helper()
	resp, err := a.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return u.last(t)
}

// checkCredentials fails unless the request carries a credential that
// want accepts as its only credential (in tc.credHeader, once; want nil
// means none at all), with the headers of with, no secret of absent (or
// the client's key) in any header, and no key in the URL.
func checkCredentials(t *testing.T, tc adapterCase, s seen, want func(string) bool, with map[string]string, absent ...string) {
	t.Helper()
	for _, k := range credentialHeaders {
		vs := s.header.Values(k)
		switch {
		case want != nil && k == tc.credHeader:
			if len(vs) != 1 || !want(vs[0]) {
				t.Errorf("%s: %q, want one credential", k, vs)
			}
		case with[k] != "":
			if len(vs) != 1 || vs[0] != with[k] {
				t.Errorf("%s: %q, want %q", k, vs, with[k])
			}
		case len(vs) > 0:
			t.Errorf("%s sent: %q", k, vs)
		}
	}
	for _, secret := range []string{sluiceKey, confKey, poolKey} {
		if strings.Contains(s.target, secret) {
			t.Errorf("a key is in the URL %s", s.target)
		}
	}
	for _, secret := range append(absent, sluiceKey) {
		for k, vs := range s.header {
			for _, v := range vs {
				if strings.Contains(v, secret) {
					t.Errorf("%q is in header %s: %s", secret, k, v)
				}
			}
		}
	}
}

func TestAdapterContract(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.typ, func(t *testing.T) {
			chat := tc.urls[0]
			req := func(apiKey string) *provider.Request {
				return &provider.Request{Op: chat.op, Model: chat.model, Body: []byte(chatBody), Header: clientHeaders(), APIKey: apiKey}
			}

			t.Run("configured credential", func(t *testing.T) {
				if tc.configure == nil {
					t.Skip("the type has no credential")
				}
				a, u := start(t, tc, "", func(s *provider.Spec) {
					tc.configure(s)
					// A configured header named like the credential
					// header must not make it appear twice.
					s.Headers = map[string]string{"X-Extra": "extra-1", strings.ToLower(tc.credHeader): "from-headers"}
				})
				s := do(t, a, u, req(""))
				checkCredentials(t, tc, s, tc.configured, tc.withConfigured, "from-headers")
				if got := s.header.Get("X-Extra"); got != "extra-1" {
					t.Errorf("configured header X-Extra = %q", got)
				}
				if got := s.header.Get("X-Client-Trace"); got != "trace-1" {
					t.Errorf("client header X-Client-Trace = %q", got)
				}
			})

			t.Run("pool key overrides the configured credential", func(t *testing.T) {
				if tc.pool == nil {
					t.Skip("the type takes no key pool")
				}
				a, u := start(t, tc, "", tc.configure)
				s := do(t, a, u, req(poolKey))
				checkCredentials(t, tc, s, equals(tc.pool(poolKey)), nil, confKey, awsKeyID, "session-token")
				if got := s.header.Get("X-Amz-Date"); got != "" && got != "19990101T000000Z" {
					t.Errorf("a pool key request is signed: X-Amz-Date %s", got)
				}
				// The adapter's own credential is back on the next request.
				s = do(t, a, u, req(""))
				checkCredentials(t, tc, s, tc.configured, tc.withConfigured, poolKey)
			})

			t.Run("pool key without a configured key", func(t *testing.T) {
				if tc.pool == nil || !tc.keyless {
					t.Skip("the type needs a configured credential or takes no pool")
				}
				a, u := start(t, tc, "", nil)
				s := do(t, a, u, req(poolKey))
				checkCredentials(t, tc, s, equals(tc.pool(poolKey)), nil)
			})

			t.Run("no credential", func(t *testing.T) {
				if !tc.keyless {
					t.Skip("the type needs a credential")
				}
				a, u := start(t, tc, "", nil)
				s := do(t, a, u, req(""))
				checkCredentials(t, tc, s, nil, nil)
			})

			t.Run("required headers", func(t *testing.T) {
				a, u := start(t, tc, "", tc.configure)
				s := do(t, a, u, &provider.Request{Op: chat.op, Model: chat.model, Body: []byte(chatBody)})
				for k, want := range tc.required {
					if got := s.header.Values(k); len(got) != 1 || got[0] != want {
						t.Errorf("%s: %q, want %q", k, got, want)
					}
				}
			})

			t.Run("urls", func(t *testing.T) {
				a, u := start(t, tc, "", tc.configure)
				for _, uc := range tc.urls {
					n := u.count()
					resp, err := a.Do(context.Background(), &provider.Request{Op: uc.op, Model: uc.model, Stream: uc.stream, Body: []byte(chatBody)})
					if uc.want == "" {
						if !errors.Is(err, provider.ErrUnsupported) || u.count() != n {
							t.Errorf("%s: error %v, %d requests sent; want ErrUnsupported and none", uc.op, err, u.count()-n)
						}
						if resp != nil {
							resp.Body.Close()
						}
						continue
					}
					if err != nil {
						t.Fatalf("%s %s: %v", uc.op, uc.model, err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if got := u.last(t).target; got != uc.want {
						t.Errorf("%s %q stream=%v: sent to %s, want %s", uc.op, uc.model, uc.stream, got, uc.want)
					}
				}
			})

			t.Run("cancel before the answer", func(t *testing.T) {
				a, u := start(t, tc, "hang", tc.configure)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				errc := make(chan error, 1)
				go func() {
					resp, err := a.Do(ctx, &provider.Request{Op: chat.op, Model: chat.model, Stream: true, Body: []byte(chatBody)})
					if resp != nil {
						resp.Body.Close()
					}
					errc <- err
				}()
				wait(t, u.arrived, "the request to arrive")
				cancel()
				select {
				case err := <-errc:
					if !errors.Is(err, context.Canceled) {
						t.Errorf("Do returned %v, want context.Canceled", err)
					}
				case <-time.After(2 * time.Second):
					t.Fatal("Do did not return after its context was cancelled")
				}
				wait(t, u.cancelled, "the upstream to see the cancellation")
			})

			t.Run("cancel in the body", func(t *testing.T) {
				a, u := start(t, tc, "stream", tc.configure)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				resp, err := a.Do(ctx, &provider.Request{Op: chat.op, Model: chat.model, Stream: true, Body: []byte(chatBody)})
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				first := make([]byte, len("data: {}\n\n"))
				if _, err := io.ReadFull(resp.Body, first); err != nil {
					t.Fatal(err)
				}
				cancel()
				errc := make(chan error, 1)
				go func() {
					_, err := io.ReadAll(resp.Body)
					errc <- err
				}()
				select {
				case err := <-errc:
					if !errors.Is(err, context.Canceled) {
						t.Errorf("reading on returned %v, want context.Canceled", err)
					}
				case <-time.After(2 * time.Second):
					t.Fatal("the body did not end after the context was cancelled")
				}
				wait(t, u.cancelled, "the upstream to see the cancellation")
			})
		})
	}
}

func wait(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(2 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
