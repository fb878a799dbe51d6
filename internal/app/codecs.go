package app

import (
	"github.com/sluicehq/sluice/internal/llm"
	protocolanthropic "github.com/sluicehq/sluice/internal/protocol/anthropic"
	protocolbedrock "github.com/sluicehq/sluice/internal/protocol/bedrock"
	protocolgemini "github.com/sluicehq/sluice/internal/protocol/gemini"
	protocolopenai "github.com/sluicehq/sluice/internal/protocol/openai"
	protocolresponses "github.com/sluicehq/sluice/internal/protocol/responses"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/proxy"
)

// codecs lists every protocol translator, by protocol.
func codecs() proxy.Codecs {
	return proxy.Codecs{
		Clients: map[provider.Protocol]llm.ClientCodec{
			provider.ProtocolOpenAI:    protocolopenai.Client,
			provider.ProtocolResponses: protocolresponses.Client,
			provider.ProtocolAnthropic: protocolanthropic.Client,
			provider.ProtocolGemini:    protocolgemini.Client,
		},
		Upstreams: map[provider.Protocol]llm.UpstreamCodec{
			provider.ProtocolOpenAI:    protocolopenai.Upstream,
			provider.ProtocolAnthropic: protocolanthropic.Upstream,
			provider.ProtocolGemini:    protocolgemini.Upstream,
			provider.ProtocolBedrock:   protocolbedrock.Upstream,
		},
		ResponsesTap:   protocolresponses.NewTap,
		ResponsesUsage: protocolresponses.UsageFromBody,
		CountTokensRequest: map[provider.Protocol]func(body []byte, model string) (*llm.Request, error){
			provider.ProtocolAnthropic: protocolanthropic.DecodeCountTokensRequest,
			provider.ProtocolGemini:    protocolgemini.DecodeCountTokensRequest,
		},
	}
}
