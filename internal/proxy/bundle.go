package proxy

import (
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/provider"
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
}

// bundles holds the bundle of each protocol.
var bundles = map[provider.Protocol]bundle{
	provider.ProtocolOpenAI: {
		exhausted: exhaustedOpenAI,
		tap:       func(strip bool) streamer { return newChatTap(strip) },
	},
	provider.ProtocolAnthropic: {exhausted: exhaustedAnthropic},
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
