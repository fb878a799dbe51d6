package conformance

import (
	"fmt"
	"testing"

	anthropicfake "github.com/sluicehq/sluice/internal/fakeprovider/anthropic"
	bedrockfake "github.com/sluicehq/sluice/internal/fakeprovider/bedrock"
	geminifake "github.com/sluicehq/sluice/internal/fakeprovider/gemini"
)

const (
	awsKeyID  = "AKIDCONFORMANCE"
	awsSecret = "conformance-secret-access-key"
)

// otherFakes starts the Anthropic, Gemini and Bedrock fakes.
func otherFakes(t *testing.T) []fakeProvider {
	var out []fakeProvider
	_, anURL := anthropicfake.Start(t, anthropicfake.Options{APIKey: providerKey})
	out = append(out, fakeProvider{"anthropic", fmt.Sprintf("  - {name: p-anthropic, type: anthropic, base_url: %q, api_key: %s}\n", anURL, providerKey)})
	out = append(out, geminiFake(t)...)
	_, brURL := bedrockfake.Start(t, bedrockfake.Options{AccessKeyID: awsKeyID, SecretAccessKey: awsSecret, Region: "us-east-1"})
	out = append(out, fakeProvider{"bedrock", fmt.Sprintf("  - {name: p-bedrock, type: bedrock, base_url: %q, region: us-east-1, aws_access_key_id: %s, aws_secret_access_key: %s}\n",
		brURL, awsKeyID, awsSecret)})
	return out
}

func geminiFake(t *testing.T) []fakeProvider {
	_, url := geminifake.Start(t, geminifake.Options{APIKey: providerKey})
	return []fakeProvider{{"gemini", fmt.Sprintf("  - {name: p-gemini, type: gemini, base_url: %q, api_key: %s}\n", url, providerKey)}}
}
