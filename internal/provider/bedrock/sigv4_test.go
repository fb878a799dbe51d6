package bedrock

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The AWS SigV4 test suite's example credentials and time.
var (
	exampleCreds = credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	exampleTime  = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
)

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// TestSignSuiteVectors reproduces vectors of the AWS SigV4 test suite
// (aws-sig-v4-test-suite: get-vanilla, post-vanilla,
// get-vanilla-query-order-key), whose signatures the AWS SDK for Go v2
// signer also gives.
func TestSignSuiteVectors(t *testing.T) {
	cases := []struct {
		name, method, url, want string
	}{
		{"get-vanilla", "GET", "https://example.amazonaws.com/",
			"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"post-vanilla", "POST", "https://example.amazonaws.com/",
			"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
		{"get-vanilla-query-order-key", "GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1",
			"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := http.NewRequest(tc.method, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := signer{creds: exampleCreds, region: "us-east-1", service: "service"}
			s.sign(r, emptySHA256, exampleTime, nil)
			if got := r.Header.Get("Authorization"); got != tc.want {
				t.Errorf("Authorization\n got %s\nwant %s", got, tc.want)
			}
			if got := r.Header.Get("X-Amz-Date"); got != "20150830T123600Z" {
				t.Errorf("X-Amz-Date %q", got)
			}
		})
	}
}

// TestSignBedrockVectors: Converse requests signed as the AWS SDK for Go v2
// (aws/signer/v4 v1.48.0) signs them, with a session token and model ids
// that need escaping: ':' is sent as %3A and signed as %253A; an inference
// profile ARN's '/' is sent as %2F.
func TestSignBedrockVectors(t *testing.T) {
	const body = `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`
	cases := []struct {
		model   string
		stream  bool
		path    string
		wantSig string
	}{
		{"anthropic.claude-3-5-sonnet-20240620-v1:0", false,
			"/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
			"3773d09b890152dab68fa69d692dd64f16f7e0eb9155b2ebfb70dd2807cf307b"},
		{"arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0", true,
			"/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse-stream",
			"3183a32420dc74880d5cdd57b891030bdfdce3077126a0e187a843d1462e588a"},
	}
	for _, tc := range cases {
		t.Run(tc.model, func(t *testing.T) {
			if got := ConversePath(tc.model, tc.stream); got != tc.path {
				t.Fatalf("ConversePath = %s, want %s", got, tc.path)
			}
			u, err := url.Parse("https://bedrock-runtime.us-west-2.amazonaws.com" + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if u.EscapedPath() != tc.path {
				t.Fatalf("the URL would send %s", u.EscapedPath())
			}
			r, _ := http.NewRequest("POST", u.String(), strings.NewReader(body))
			r.URL = u
			r.Header.Set("Content-Type", "application/json")
			sum := hexSHA256([]byte(body))
			r.Header.Set("X-Amz-Content-Sha256", sum)
			s := signer{creds: credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: exampleCreds.SecretAccessKey, SessionToken: "SESSION/TOKEN+="},
				region: "us-west-2", service: Service}
			s.sign(r, sum, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), []string{"content-type", "x-amz-content-sha256"})
			want := "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-west-2/bedrock/aws4_request, " +
				"SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=" + tc.wantSig
			if got := r.Header.Get("Authorization"); got != want {
				t.Errorf("Authorization\n got %s\nwant %s", got, want)
			}
			if got := r.Header.Get("X-Amz-Security-Token"); got != "SESSION/TOKEN+=" {
				t.Errorf("X-Amz-Security-Token %q", got)
			}
		})
	}
}

func TestCanonicalPieces(t *testing.T) {
	cases := []struct{ in, path, query string }{
		{"https://h/", "/", ""},
		{"https://h", "/", ""},
		{"https://h/a%3Ab/c", "/a%253Ab/c", ""},
		{"https://h/a b", "/a%2520b", ""},
		{"https://h/?b=2&a=1&a=0&c=x%20y", "/", "a=0&a=1&b=2&c=x%20y"},
		{"https://h/?k=%2F~", "/", "k=%2F~"},
	}
	for _, tc := range cases {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := canonicalURI(u); got != tc.path {
			t.Errorf("canonicalURI(%s) = %s, want %s", tc.in, got, tc.path)
		}
		if got := canonicalQuery(u); got != tc.query {
			t.Errorf("canonicalQuery(%s) = %s, want %s", tc.in, got, tc.query)
		}
	}
	if got := trimSpaces("  a   b  c "); got != "a b c" {
		t.Errorf("trimSpaces = %q", got)
	}
}
