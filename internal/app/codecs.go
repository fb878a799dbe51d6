package app

import (
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/proxy"
)

// codecs lists every protocol translator, by protocol.
func codecs() proxy.Codecs {
	return proxy.Codecs{
		Clients:   map[provider.Protocol]llm.ClientCodec{},
		Upstreams: map[provider.Protocol]llm.UpstreamCodec{},
	}
}
