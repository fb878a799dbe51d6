// Package bedrock is the adapter for AWS Bedrock Runtime's Converse API.
// It posts Converse bodies (see internal/protocol/bedrock) to
// {base}/model/{modelId}/converse or /converse-stream and signs every
// request with AWS Signature Version 4 (service "bedrock"), or, when the
// provider has a Bedrock API key instead of AWS credentials, sends it as a
// bearer token.
package bedrock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/provider"
)

// DefaultTimeout bounds one attempt when the provider sets none.
const DefaultTimeout = 10 * time.Minute

// Service is the SigV4 service name of Bedrock Runtime.
const Service = "bedrock"

// DefaultBaseURL returns the Bedrock Runtime endpoint of region.
func DefaultBaseURL(region string) string {
	return "https://bedrock-runtime." + region + ".amazonaws.com"
}

// Adapter sends Converse requests to one AWS account and region. It is
// safe for concurrent use.
type Adapter struct {
	name    string
	base    string
	signer  *signer // nil with a bearer API key
	bearer  string  // "Bearer <key>" when signer is nil
	headers map[string]string
	timeout time.Duration
	client  *http.Client
	now     func() time.Time // the signing clock
}

var _ provider.Adapter = (*Adapter)(nil)

// New returns the adapter for spec. It needs spec.Region and either AWS
// credentials (AWSAccessKeyID and AWSSecretAccessKey, and AWSSessionToken
// for temporary ones) or a Bedrock API key (APIKey). BaseURL defaults to
// https://bedrock-runtime.{region}.amazonaws.com.
func New(spec provider.Spec) (provider.Adapter, error) {
	return newAdapter(spec, time.Now)
}

func newAdapter(spec provider.Spec, now func() time.Time) (*Adapter, error) {
	a := &Adapter{
		name:    spec.Name,
		base:    strings.TrimRight(spec.BaseURL, "/"),
		headers: spec.Headers,
		timeout: spec.Timeout,
		client:  spec.Client,
		now:     now,
	}
	hasKeys := spec.AWSAccessKeyID != "" || spec.AWSSecretAccessKey != ""
	switch {
	case hasKeys && (spec.AWSAccessKeyID == "" || spec.AWSSecretAccessKey == ""):
		return nil, fmt.Errorf("provider %q: bedrock needs both an AWS access key id and a secret access key", spec.Name)
	case !hasKeys && spec.AWSSessionToken != "":
		return nil, fmt.Errorf("provider %q: bedrock: an AWS session token needs its access key id and secret access key", spec.Name)
	case !hasKeys && spec.APIKey == "":
		return nil, fmt.Errorf("provider %q: bedrock needs AWS credentials or a Bedrock API key", spec.Name)
	case spec.Region == "" && (hasKeys || a.base == ""):
		return nil, fmt.Errorf("provider %q: bedrock needs a region", spec.Name)
	}
	if hasKeys {
		a.signer = &signer{
			creds:   credentials{AccessKeyID: spec.AWSAccessKeyID, SecretAccessKey: spec.AWSSecretAccessKey, SessionToken: spec.AWSSessionToken},
			region:  spec.Region,
			service: Service,
		}
	} else {
		a.bearer = "Bearer " + spec.APIKey
	}
	if a.base == "" {
		a.base = DefaultBaseURL(spec.Region)
	}
	u, err := url.Parse(a.base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("provider %q: bedrock: invalid base URL %q", spec.Name, a.base)
	}
	if a.timeout <= 0 {
		a.timeout = DefaultTimeout
	}
	if a.client == nil {
		a.client = http.DefaultClient
	}
	return a, nil
}

// Name implements provider.Adapter.
func (a *Adapter) Name() string { return a.name }

// Protocol implements provider.Adapter.
func (a *Adapter) Protocol() provider.Protocol { return provider.ProtocolBedrock }

// Timeout implements provider.Adapter.
func (a *Adapter) Timeout() time.Duration { return a.timeout }

// ConversePath returns the escaped path of the Converse (or ConverseStream)
// operation for model: every byte of the model id but the unreserved ones
// is percent-encoded, '/' and ':' included, as the AWS SDK does.
func ConversePath(model string, stream bool) string {
	op := "/converse"
	if stream {
		op = "/converse-stream"
	}
	return "/model/" + escape(model, true) + op
}

// Do implements provider.Adapter. Only OpChat exists on Bedrock Converse.
// The body of a non-2xx answer gets the x-amzn-ErrorType header's value as
// its "__type" field (see typeErrorBody).
func (a *Adapter) Do(ctx context.Context, req *provider.Request) (*http.Response, error) {
	if req.Op != provider.OpChat {
		return nil, provider.ErrUnsupported
	}
	if req.Model == "" {
		return nil, errors.New("bedrock: no model id")
	}
	u, err := url.Parse(a.base + ConversePath(req.Model, req.Stream))
	if err != nil {
		return nil, fmt.Errorf("bedrock: request URL: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(req.Body))
	if err != nil {
		return nil, err
	}
	hr.URL = u // keep the escaping we chose: it is what gets signed
	h := hr.Header
	for k, vs := range req.Header {
		// Never forward AWS signing headers: only ours may be present.
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") || lk == "authorization" {
			continue
		}
		h[k] = append([]string(nil), vs...)
	}
	for k, v := range a.headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json")
	if req.Stream {
		h.Set("Accept", "application/vnd.amazon.eventstream")
	} else {
		h.Set("Accept", "application/json")
	}
	hr.Host = hostHeader(u)
	if a.signer != nil {
		sum := hexSHA256(req.Body)
		h.Set("X-Amz-Content-Sha256", sum)
		a.signer.sign(hr, sum, a.now(), []string{"content-type", "x-amz-content-sha256"})
	} else {
		h.Set("Authorization", a.bearer)
	}
	resp, err := a.client.Do(hr)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		typeErrorBody(resp)
	}
	return resp, nil
}

// maxErrorBody bounds the error body typeErrorBody reads.
const maxErrorBody = 1 << 20

// typeErrorBody copies the error type of a non-2xx answer from the
// x-amzn-ErrorType header into its JSON body as "__type" (AWS's own field
// for it), so that a decoder that sees only the status and the body
// (llm.UpstreamCodec.DecodeError) can tell a ThrottlingException from a
// ModelNotReadyException, or a signature error from AccessDenied. Bedrock
// has no client protocol, so its error bodies are never forwarded as they
// are.
func typeErrorBody(resp *http.Response) {
	typ := resp.Header.Get("X-Amzn-Errortype")
	if typ == "" || strings.ContainsAny(typ, "\"\\") {
		return
	}
	orig := resp.Body
	b, err := io.ReadAll(io.LimitReader(orig, maxErrorBody+1))
	var rest io.Reader = errReader{err} // the read error, or io.EOF
	switch {
	case err != nil:
		// Keep the bytes read so far; the caller meets the error reading on.
	case len(b) > maxErrorBody:
		rest = orig // too long to be an AWS error: leave it alone
	default:
		if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' && !bytes.Contains(t, []byte(`"__type"`)) {
			inner := bytes.TrimSpace(t[1:])
			sep := ","
			if len(inner) > 0 && inner[0] == '}' {
				sep = ""
			}
			b = append([]byte(`{"__type":"`+typ+`"`+sep), inner...)
		}
		resp.ContentLength = int64(len(b))
	}
	if err != nil || len(b) > maxErrorBody {
		resp.ContentLength = -1
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), rest), orig}
}

// errReader returns err (io.EOF when nil).
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err == nil {
		return 0, io.EOF
	}
	return 0, r.err
}

// hostHeader is the Host header as sent and signed: the URL's host without
// a default port (AWS signs the host that way).
func hostHeader(u *url.URL) string {
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		host := u.Hostname()
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return u.Host
}
