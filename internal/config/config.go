// Package config defines Sluice's declarative, versioned configuration file:
// its schema, strict decoding with ${ENV} interpolation, defaults, and
// validation that reports every problem with its field path.
package config

// CurrentVersion is the only schema version this build understands.
const CurrentVersion = 1

// File is the root of a configuration file.
type File struct {
	Version   int        `yaml:"version"`
	Providers []Provider `yaml:"providers"`
	Models    []Model    `yaml:"models"`
	Keys      []Key      `yaml:"keys"`
}

// Provider is an upstream account: a wire protocol, a base URL and credentials.
type Provider struct {
	Name    string `yaml:"name"`
	Type    string `yaml:"type"`
	BaseURL string `yaml:"base_url"`
	// APIKey is a secret. It is never logged and never returned by an API.
	APIKey string `yaml:"api_key"`
	// Headers are extra headers sent upstream on every request.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds a whole upstream attempt, for example "10m". Zero means the default.
	Timeout Duration `yaml:"timeout"`

	// APIVersion is Azure OpenAI's api-version query parameter, or the
	// anthropic-version header for type anthropic (defaults apply).
	APIVersion string `yaml:"api_version"`
	// Region, and the AWS credentials, are for type bedrock. base_url may be
	// left out: it is derived from the region.
	Region             string `yaml:"region"`
	AWSAccessKeyID     string `yaml:"aws_access_key_id"`
	AWSSecretAccessKey string `yaml:"aws_secret_access_key"`
	AWSSessionToken    string `yaml:"aws_session_token"`
}

// Model is a name clients ask for; it resolves to one or more targets.
type Model struct {
	Name    string   `yaml:"name"`
	Targets []Target `yaml:"targets"`
	Pricing Pricing  `yaml:"pricing"`
}

// Target is one upstream model at one provider.
type Target struct {
	Provider string `yaml:"provider"`
	Model    string `yaml:"model"`
}

// Pricing is in US dollars per million tokens.
type Pricing struct {
	InputPerMTok       float64 `yaml:"input_per_mtok"`
	OutputPerMTok      float64 `yaml:"output_per_mtok"`
	CachedInputPerMTok float64 `yaml:"cached_input_per_mtok"`
}

// Key is a virtual API key declared in the file. Its value is hashed when
// the file is compiled and the plaintext is dropped.
type Key struct {
	Name   string   `yaml:"name"`
	Key    string   `yaml:"key"`
	Models []string `yaml:"models"`
}

// Provider types known to this build.
const (
	TypeOpenAI      = "openai"
	TypeAzureOpenAI = "azure-openai"
	TypeAnthropic   = "anthropic"
	TypeGemini      = "gemini"
	TypeBedrock     = "bedrock"
	TypeDemo        = "demo"
)

// ProviderTypes lists the accepted values of providers[].type.
var ProviderTypes = []string{TypeOpenAI, TypeAzureOpenAI, TypeAnthropic, TypeGemini, TypeBedrock, TypeDemo}

// Default returns the configuration used when Sluice starts without a file:
// the built-in demo provider serving the models "demo" and "demo-embed".
func Default() *File {
	return &File{
		Version:   CurrentVersion,
		Providers: []Provider{{Name: "demo", Type: TypeDemo}},
		Models: []Model{
			{Name: "demo", Targets: []Target{{Provider: "demo", Model: "demo-chat"}}},
			{Name: "demo-embed", Targets: []Target{{Provider: "demo", Model: "demo-embed"}}},
		},
	}
}
