package guard

import (
	"strings"
	"testing"
)

// TestSecretAndAddressVectors checks the secret and address detectors on
// the documented example values of their issuers (AWS's example access
// keys, jwt.io's example token, OpenAI and Anthropic key shapes, RFC 3849
// and RFC 5952 IPv6 forms) and on look-alikes from prose and code that
// must not match.
func TestSecretAndAddressVectors(t *testing.T) {
	jwtIO := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	legacy := "sk-" + strings.Repeat("T3BlbkFJ", 6)
	proj := "sk-proj-" + strings.Repeat("Ab3_x-Yz9Q", 15)
	ant := "sk-ant-api03-" + strings.Repeat("Zx8-Qw2_Lp", 9) + "abcAA"
	cases := []struct {
		entity string
		text   string
		want   []string
	}{
		// AWS documentation's example access key IDs, long-term and temporary.
		{"aws_access_key", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE", []string{"AKIAIOSFODNN7EXAMPLE"}},
		{"aws_access_key", `"AccessKeyId": "ASIAIOSFODNN7EXAMPLE",`, []string{"ASIAIOSFODNN7EXAMPLE"}},
		{"aws_access_key", "AKIAIOSFODNN7EXAMPL is one short; AKIAIOSFODNN7EXAMPLEX one long", nil},
		{"aws_access_key", "akiaiosfodnn7example in lower case is not a key", nil},
		// jwt.io's example token, in a header and in a URL.
		{"jwt", "Authorization: Bearer " + jwtIO, []string{jwtIO}},
		{"jwt", "https://app.example.com/cb?id_token=" + jwtIO + "&state=1", []string{jwtIO}},
		{"jwt", "eyJhbGciOiJIUzI1NiJ9 alone is a header, not a token", nil},
		// OpenAI (legacy and project) and Anthropic key shapes.
		{"api_key", "OPENAI_API_KEY=" + legacy, []string{legacy}},
		{"api_key", "key: " + proj + "\n", []string{proj}},
		{"api_key", "x-api-key: " + ant, []string{ant}},
		{"api_key", "use sk-learn-is-a-python-library-for-machine-learning here", nil},
		{"api_key", "the risk-assessment-framework-document-for-q3 and desk-booking-system-for-offices", nil},
		{"api_key", "sk-your-api-key-goes-here-in-this-field", nil},
		// IPv6 in the forms RFC 5952 and RFC 4291 write, and look-alikes.
		{"ip_address", "host 2001:0db8:85a3:0000:0000:8a2e:0370:7334 up", []string{"2001:0db8:85a3:0000:0000:8a2e:0370:7334"}},
		{"ip_address", "connect to [2001:db8::1]:443 now", []string{"2001:db8::1"}},
		{"ip_address", "link-local fe80::1ff:fe23:4567:890a%eth0 seen", []string{"fe80::1ff:fe23:4567:890a"}},
		{"ip_address", "mapped ::ffff:192.0.2.128.", []string{"::ffff:192.0.2.128"}},
		{"ip_address", "loopback ::1, and 2001:DB8:0:0:8:800:200C:417A", []string{"::1", "2001:DB8:0:0:8:800:200C:417A"}},
		{"ip_address", "mac 00:1a:2b:3c:4d:5e, std::vector, 12:30:45, self::cache, 2001:db8::1::2", nil},
	}
	for _, tc := range cases {
		t.Run(tc.entity+"/"+tc.text, func(t *testing.T) {
			got := found(t, tc.entity, tc.text)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
