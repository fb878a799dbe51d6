package proxy

import (
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/tidwall/gjson"
)

// bundle is what the data plane knows of one wire protocol beyond its
// codecs (llm.ClientCodec, llm.UpstreamCodec): the stages ask the bundle of
// the call's protocol and name no protocol themselves. A nil member means
// the protocol has none.
type bundle struct {
	// exhausted reads an upstream's rate-limit headers on a successful
	// answer: when they say no requests remain, the time the key (or
	// target) rests until, at most ten minutes ahead.
	exhausted func(h http.Header, now time.Time) (time.Time, bool)
	// tap watches a pass-through stream of this client protocol (usage,
	// text, framing); strip hides the usage chunk Sluice asked for.
	tap func(strip bool) streamer
	// answerUsage reads the usage of a complete pass-through answer of
	// this client protocol; ok=false leaves the proxy to estimate. usage is
	// the answer's top-level member under usageKey, as gjson.GetBytes finds
	// it, read in the pass that validated the answer (it points into data).
	answerUsage func(h *Handler, c *Call, fs *forwardSpec, data []byte, usage gjson.Result) (meter.Usage, bool)
	// usageOfDoc reads the usage of a (possibly partial) answer document
	// holding at least its usage member, found under usageKey ("usage"
	// when empty).
	usageOfDoc func(h *Handler, p provider.Protocol, doc []byte) (meter.Usage, bool)
	usageKey   string
}

// bundles holds the bundle of each protocol.
var bundles = map[provider.Protocol]bundle{
	provider.ProtocolOpenAI: {
		exhausted:   exhaustedOpenAI,
		tap:         func(strip bool) streamer { return newChatTap(strip) },
		answerUsage: answerUsageOpenAI,
		usageOfDoc: func(_ *Handler, _ provider.Protocol, doc []byte) (meter.Usage, bool) {
			return usageOpenAI(gjson.GetBytes(doc, "usage"))
		},
	},
	provider.ProtocolResponses: {
		answerUsage: func(h *Handler, _ *Call, _ *forwardSpec, data []byte, _ gjson.Result) (meter.Usage, bool) {
			return usageResponses(h, "", data)
		},
		usageOfDoc: usageResponses,
	},
	provider.ProtocolAnthropic: {exhausted: exhaustedAnthropic, answerUsage: answerUsageByCodec, usageOfDoc: usageByCodec},
	provider.ProtocolGemini:    {answerUsage: answerUsageByCodec, usageOfDoc: usageByCodec, usageKey: "usageMetadata"},
}

// answerUsageOpenAI reads an OpenAI answer's usage, or estimates it from
// the request and the answer's text.
func answerUsageOpenAI(_ *Handler, c *Call, fs *forwardSpec, data []byte, usage gjson.Result) (meter.Usage, bool) {
	if u, ok := usageOpenAI(usage); ok {
		return u, true
	}
	if c.in.op == provider.OpEmbeddings {
		return meter.Usage{InputTokens: meter.EstimateEmbeddingInput(fs.body), Estimated: true}, true
	}
	u := meter.Usage{InputTokens: meter.EstimateChatInput(fs.body), Estimated: true}
	gjson.GetBytes(data, "choices.#.message.content").ForEach(func(_, v gjson.Result) bool {
		u.OutputTokens += meter.CountText(v.Str)
		return true
	})
	return u, true
}

// usageResponses reads a Responses answer's usage through the codec's
// reader.
func usageResponses(h *Handler, _ provider.Protocol, doc []byte) (meter.Usage, bool) {
	if f := h.opts.Codecs.ResponsesUsage; f != nil {
		return f(doc)
	}
	return meter.Usage{}, false
}

// answerUsageByCodec reads a complete answer's usage by decoding it with
// its protocol's upstream codec; a token count is not billed.
func answerUsageByCodec(h *Handler, c *Call, _ *forwardSpec, data []byte, _ gjson.Result) (meter.Usage, bool) {
	if c.in.op == provider.OpCountTokens {
		return meter.Usage{}, true
	}
	if uc := h.opts.Codecs.Upstreams[c.in.proto]; uc != nil {
		if ir, err := uc.DecodeResponse(data); err == nil {
			return ir.Usage, true
		}
	}
	return meter.Usage{}, false
}

// usageByCodec reads a partial answer's usage with its protocol's upstream
// codec; an answer without figures has none.
func usageByCodec(h *Handler, p provider.Protocol, doc []byte) (meter.Usage, bool) {
	if uc := h.opts.Codecs.Upstreams[p]; uc != nil {
		if ir, err := uc.DecodeResponse(doc); err == nil && ir.Usage != (meter.Usage{}) {
			return ir.Usage, true
		}
	}
	return meter.Usage{}, false
}

// restLimit bounds how long a provider's rate-limit headers rest a key.
const restLimit = 10 * time.Minute

// exhaustedOpenAI reads x-ratelimit-remaining-requests and its reset, a
// duration such as "6m0s".
func exhaustedOpenAI(h http.Header, now time.Time) (time.Time, bool) {
	if h.Get("X-Ratelimit-Remaining-Requests") == "0" {
		if d, err := time.ParseDuration(h.Get("X-Ratelimit-Reset-Requests")); err == nil && d > 0 {
			return now.Add(min(d, restLimit)), true
		}
	}
	return time.Time{}, false
}

// exhaustedAnthropic reads anthropic-ratelimit-requests-remaining and its
// reset, an RFC 3339 time.
func exhaustedAnthropic(h http.Header, now time.Time) (time.Time, bool) {
	if h.Get("Anthropic-Ratelimit-Requests-Remaining") == "0" {
		if t, err := time.Parse(time.RFC3339, h.Get("Anthropic-Ratelimit-Requests-Reset")); err == nil && t.After(now) {
			return minTime(t, now.Add(restLimit)), true
		}
	}
	return time.Time{}, false
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
