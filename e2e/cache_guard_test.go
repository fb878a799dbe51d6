package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// guardCacheYAML is the guardrails and cache contract, as the README shows it.
func guardCacheYAML(upstream string) string {
	return fmt.Sprintf(`version: 1
providers:
  - {name: up, type: openai, base_url: %s, api_key: "${UP_KEY}"}
guardrails:
  - {name: pii, type: pii, entities: [email, credit_card], action: mask, on: [input, output]}
  - {name: no-secrets, type: regex, patterns: ["sk-[A-Za-z0-9]{20,}"], action: block, on: [input]}
models:
  - name: gpt-4o-mini
    targets: [{provider: up, model: fake-model-1}]
    guardrails: [pii, no-secrets]
    cache: {mode: exact, ttl: 60s}
keys:
  - {name: dev, key: %s}
`, upstream, devKey)
}

// cacheHeaders records the x-sluice-cache header of each answer.
type cacheHeaders struct {
	mu  sync.Mutex
	got []string
}

func (c *cacheHeaders) record(resp *http.Response) {
	if resp != nil {
		c.mu.Lock()
		c.got = append(c.got, resp.Header.Get("X-Sluice-Cache"))
		c.mu.Unlock()
	}
}

func (c *cacheHeaders) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

// upstreamCalls counts the fake's requests that carry marker.
func upstreamCalls(marker string) (n int, bodies []string) {
	for _, r := range fake.Requests() {
		if r.Header.Get("X-E2e-Marker") == marker {
			n++
			bodies = append(bodies, string(r.Body))
		}
	}
	return n, bodies
}

// The official OpenAI and Anthropic SDKs parse a streamed cache hit: the
// second identical stream is replayed from the cache (no upstream call) as
// valid SSE of each protocol, with the same text. The card number in the
// question reaches the upstream masked; an sk- secret is refused.
func TestCacheGuardSDKReplay(t *testing.T) {
	g, err := newGatewayWithConfig("cacheguard", guardCacheYAML(fakeURL))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log tail:\n%s", g.log.tail(6000))
		}
		g.kill()
	})
	question := "My card is 4111 1111 1111 1111, what now? " + randHex(4)

	t.Run("openai-go", func(t *testing.T) {
		var hdrs cacheHeaders
		client := sdk(t, g, devKey, option.WithMiddleware(func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
			resp, err := next(req)
			hdrs.record(resp)
			return resp, err
		}))
		marker := randHex(6)
		var texts []string
		for i := 0; i < 2; i++ {
			params := openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(question)}}
			s := client.Chat.Completions.NewStreaming(ctxTimeout(t, 20*time.Second), params, option.WithHeader("X-E2e-Marker", marker))
			var acc openai.ChatCompletionAccumulator
			for s.Next() {
				if !acc.AddChunk(s.Current()) {
					t.Fatalf("stream %d: the accumulator rejected %s", i, s.Current().RawJSON())
				}
			}
			if err := s.Err(); err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
			if len(acc.Choices) != 1 || acc.Choices[0].FinishReason != "stop" || acc.Choices[0].Message.Content == "" {
				t.Fatalf("stream %d accumulated %+v", i, acc.Choices)
			}
			texts = append(texts, acc.Choices[0].Message.Content)
		}
		n, bodies := upstreamCalls(marker)
		if h := hdrs.all(); n != 1 || len(h) != 2 || h[0] != "miss" || h[1] != "hit" || texts[0] != texts[1] {
			t.Fatalf("upstream calls %d, cache headers %v, texts %q", n, h, texts)
		}
		if strings.Contains(bodies[0], "4111 1111 1111 1111") || !strings.Contains(bodies[0], "<CREDIT_CARD_1>") {
			t.Fatalf("the upstream received %s", bodies[0])
		}

		_, err := client.Chat.Completions.New(ctxTimeout(t, 20*time.Second), openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("key sk-ABCDEFGHIJKLMNOPQRSTUVWXYZ012345")}},
			option.WithHeader("X-E2e-Marker", marker))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden || !strings.Contains(apiErr.Message, "no-secrets") ||
			strings.Contains(apiErr.RawJSON(), "sk-ABCDEFGHIJ") {
			t.Fatalf("secret: %v", err)
		}
		if n, _ := upstreamCalls(marker); n != 1 {
			t.Fatalf("the secret reached the upstream (%d calls)", n)
		}
	})

	t.Run("anthropic-sdk-go", func(t *testing.T) {
		var hdrs cacheHeaders
		client := anthropicSDK(t, g, devKey)
		marker := randHex(6)
		var texts []string
		for i := 0; i < 2; i++ {
			params := anthropic.MessageNewParams{Model: "gpt-4o-mini", MaxTokens: 200,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(question))}}
			s := client.Messages.NewStreaming(ctxTimeout(t, 20*time.Second), params, aoption.WithHeader("X-E2e-Marker", marker),
				aoption.WithMiddleware(func(req *http.Request, next aoption.MiddlewareNext) (*http.Response, error) {
					resp, err := next(req)
					hdrs.record(resp)
					return resp, err
				}))
			var msg anthropic.Message
			var events []string
			for s.Next() {
				ev := s.Current()
				events = append(events, ev.Type)
				if err := msg.Accumulate(ev); err != nil {
					t.Fatalf("stream %d: Accumulate(%s): %v", i, ev.Type, err)
				}
			}
			if err := s.Err(); err != nil {
				t.Fatalf("stream %d: %v (events %v)", i, err, events)
			}
			s.Close()
			if len(events) < 3 || events[0] != "message_start" || events[len(events)-1] != "message_stop" || len(msg.Content) == 0 {
				t.Fatalf("stream %d events %v", i, events)
			}
			texts = append(texts, msg.Content[0].Text)
		}
		n, _ := upstreamCalls(marker)
		if h := hdrs.all(); n != 1 || len(h) != 2 || h[0] != "miss" || h[1] != "hit" || texts[0] != texts[1] || texts[0] == "" {
			t.Fatalf("upstream calls %d, cache headers %v, texts %q", n, h, texts)
		}
	})
}
