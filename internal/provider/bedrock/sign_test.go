package bedrock

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/logging"

	bedrockfake "github.com/sluicehq/sluice/internal/fakeprovider/bedrock"
	"github.com/sluicehq/sluice/internal/provider"
)

// TestModelPathEscaping: model ids with ':' and '/' go on the wire escaped
// as the AWS SDK's bedrockruntime client sends them, and are signed over
// that escaped path escaped once more (SigV4 for every service but S3), as
// AWS recomputes it. The fake (which recomputes signatures with the AWS
// signer from the request as it arrived) accepts them.
func TestModelPathEscaping(t *testing.T) {
	cases := []struct {
		model     string
		stream    bool
		wire      string // the path as sent
		canonical string // the canonical URI that is signed
	}{
		{"anthropic.claude-3-5-sonnet-20240620-v1:0", false,
			"/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
			"/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse"},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0", false,
			"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
			"/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A123456789012%253Ainference-profile%252Fus.anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse"},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0", true,
			"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream",
			"/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A123456789012%253Ainference-profile%252Fus.anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse-stream"},
		{"meta.llama3-70b-instruct-v1:0", false,
			"/model/meta.llama3-70b-instruct-v1%3A0/converse",
			"/model/meta.llama3-70b-instruct-v1%253A0/converse"},
		{"a b+c", false, "/model/a%20b%2Bc/converse", "/model/a%2520b%252Bc/converse"},
	}
	fake, base := bedrockfake.Start(t, bedrockfake.Options{AccessKeyID: bedrockfake.TestAccessKeyID,
		SecretAccessKey: bedrockfake.TestSecretAccessKey, Region: bedrockfake.TestRegion})
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.model, tc.stream), func(t *testing.T) {
			if got := ConversePath(tc.model, tc.stream); got != tc.wire {
				t.Errorf("ConversePath = %s, want %s", got, tc.wire)
			}
			a, err := newAdapter(provider.Spec{Name: "aws", BaseURL: base, Region: bedrockfake.TestRegion,
				AWSAccessKeyID: bedrockfake.TestAccessKeyID, AWSSecretAccessKey: bedrockfake.TestSecretAccessKey}, time.Now)
			if err != nil {
				t.Fatal(err)
			}
			var canonical string
			a.signer = v4.NewSigner(func(o *v4.SignerOptions) {
				o.LogSigning = true
				o.Logger = logging.LoggerFunc(func(_ logging.Classification, format string, v ...any) {
					canonical = fmt.Sprintf(format, v...)
				})
			})
			body := []byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`)
			resp, err := a.Do(context.Background(), &provider.Request{Op: provider.OpChat, Model: tc.model, Stream: tc.stream, Body: body})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			// The logged canonical request: the method's line, then the URI's.
			_, creq, _ := strings.Cut(canonical, "[ CANONICAL STRING  ]")
			if lines := strings.Split(creq, "\n"); len(lines) < 3 || lines[1] != "POST" || lines[2] != tc.canonical {
				t.Errorf("canonical request:\n%s\nwant URI %s", canonical, tc.canonical)
			}
			r, _ := fake.Last()
			if r.RawPath != tc.wire || bedrockfake.ModelID(r) != tc.model {
				t.Errorf("the fake received %s (model %q), want %s", r.RawPath, bedrockfake.ModelID(r), tc.wire)
			}
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d: the fake rejected the signature", resp.StatusCode)
			}
		})
	}
}
