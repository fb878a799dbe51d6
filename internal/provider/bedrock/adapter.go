// Package bedrock is the adapter for AWS Bedrock Runtime's Converse API.
// It posts Converse bodies (see internal/protocol/bedrock) to
// {base}/model/{modelId}/converse or /converse-stream and signs every
// request with AWS Signature Version 4 (service "bedrock", the AWS SDK for
// Go v2 signer), or, when the provider has a Bedrock API key instead of AWS
// credentials, sends it as a bearer token.
//
// A key from the provider's key pool (provider.Request.APIKey) is a Bedrock
// API key: it is sent as "Authorization: Bearer <key>" in place of the
// signature, for that attempt only, whatever credentials the provider has.
// A pool entry is one string, so it cannot hold an access key pair (an id,
// a secret and perhaps a session token); AWS credentials come only from the
// provider's aws_* settings.
package bedrock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"

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
	signer  *v4.Signer      // nil with a bearer API key
	creds   aws.Credentials // what signer signs with
	region  string
	apiKey  string // the Bedrock API key when signer is nil
	headers map[string]string
	timeout time.Duration
	client  *http.Client
	send    provider.Sender  // the client, or its Transport directly
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
		// Bedrock Runtime is not S3: the signer escapes the (already
		// escaped) path once more, as the AWS SDK's bedrockruntime client
		// does (DisableURIPathEscaping false).
		a.signer = v4.NewSigner()
		a.creds = aws.Credentials{AccessKeyID: spec.AWSAccessKeyID, SecretAccessKey: spec.AWSSecretAccessKey, SessionToken: spec.AWSSessionToken}
		a.region = spec.Region
	} else {
		a.apiKey = spec.APIKey
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
	a.send = provider.NewSender(a.client)
	return a, nil
}

// Name implements provider.Adapter.
func (a *Adapter) Name() string { return a.name }

// Protocol implements provider.Adapter.
func (a *Adapter) Protocol() provider.Protocol { return provider.ProtocolBedrock }

// GenAIProviderName is gen_ai.provider.name in the OpenTelemetry GenAI
// conventions.
func (a *Adapter) GenAIProviderName() string { return "aws.bedrock" }

// Timeout implements provider.Adapter.
func (a *Adapter) Timeout() time.Duration { return a.timeout }

// ConversePath returns the escaped path of the Converse (or ConverseStream)
// operation for model: every byte of the model id but the unreserved ones
// is percent-encoded, '/' and ':' included, with the function the AWS SDK's
// generated bedrockruntime serializer uses for the {modelId} label.
func ConversePath(model string, stream bool) string {
	op := "/converse"
	if stream {
		op = "/converse-stream"
	}
	return "/model/" + httpbinding.EscapePath(model, true) + op
}

// Do implements provider.Adapter. Only OpChat exists on Bedrock Converse.
// The body of a non-2xx answer gets the x-amzn-ErrorType header's value as
// its "__type" field (see typeErrorBody). The request's pool key, when set,
// is sent as a bearer Bedrock API key instead of a signature (see the
// package documentation).
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
	provider.CopyHeader(h, req.Header)
	for k := range h {
		// Never forward AWS signing headers: only ours may be present.
		if strings.HasPrefix(k, "X-Amz-") {
			delete(h, k)
		}
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
	switch {
	case req.APIKey != "":
		h.Set("Authorization", "Bearer "+req.APIKey)
	case a.signer != nil:
		// Every header present now is signed (as the AWS SDK signs);
		// the transport adds only unsigned ones (User-Agent,
		// Accept-Encoding).
		sum := sha256.Sum256(req.Body)
		if err := a.signer.SignHTTP(ctx, a.creds, hr, hex.EncodeToString(sum[:]), Service, a.region, a.now()); err != nil {
			return nil, fmt.Errorf("bedrock: signing: %w", err)
		}
	default:
		h.Set("Authorization", "Bearer "+a.apiKey)
	}
	resp, err := a.send.Do(hr)
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
