package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
)

// probeEntries returns the request IDs of the probe key's ledger entries.
func probeEntries(t *testing.T, g *gateway) map[string]bool {
	t.Helper()
	entries, err := g.ledger(500)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range entries {
		if e.KeyName == "probe" {
			ids[e.RequestID] = true
		}
	}
	return ids
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	g := sharedGateway(t)
	cases := []struct {
		name    string
		stream  bool
		headers map[string]string
		chunks  int // SDK chunks to read before disconnecting; -1 = disconnect while waiting
	}{
		{name: "mid-stream", stream: true, chunks: 3,
			headers: map[string]string{openaifake.HeaderChunks: "50", openaifake.HeaderChunkDelayMs: "100"}},
		{name: "stream waiting for first byte", stream: true, chunks: -1,
			headers: map[string]string{openaifake.HeaderHang: "1"}},
		{name: "non-stream waiting for the upstream", stream: false, chunks: -1,
			headers: map[string]string{openaifake.HeaderHang: "1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := probeEntries(t, g)
			marker, match := withMarker()
			opts := []option.RequestOption{option.WithHeader("X-E2e-Marker", marker)}
			for k, v := range tc.headers {
				opts = append(opts, option.WithHeader(k, v))
			}
			var httpResp *http.Response
			opts = append(opts, option.WithResponseInto(&httpResp))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			params := openai.ChatCompletionNewParams{
				Model:    "chat-small",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("please go away")},
			}
			client := sdk(t, g, probeKey)
			done := make(chan error, 1)
			var cancelledAt time.Time
			if tc.stream {
				go func() {
					stream := client.Chat.Completions.NewStreaming(ctx, params, opts...)
					defer stream.Close()
					for n := 0; stream.Next(); n++ {
						if n+1 == tc.chunks {
							cancelledAt = time.Now()
							cancel()
						}
					}
					done <- stream.Err()
				}()
			} else {
				go func() {
					_, err := client.Chat.Completions.New(ctx, params, opts...)
					done <- err
				}()
			}
			if tc.chunks < 0 {
				fakeRequest(t, "the request", match)
				time.Sleep(200 * time.Millisecond)
				cancelledAt = time.Now()
				cancel()
			}
			select {
			case err := <-done:
				if err == nil {
					t.Error("client call succeeded; want it cancelled")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("client call did not return after cancel")
			}
			r, ok := fake.WaitRequest(3*time.Second, func(r openaifake.Request) bool { return match(r) && r.Cancelled })
			if !ok {
				t.Fatal("the upstream request was not cancelled within 3s of the client's disconnect")
			}
			if lag := r.CancelledAt.Sub(cancelledAt); lag > time.Second {
				t.Errorf("the upstream saw the disconnect %v after the client left, want <= 1s", lag)
			} else {
				t.Logf("upstream cancelled %v after the client left", lag.Round(time.Millisecond))
			}
			var e LedgerEntry
			if httpResp != nil && httpResp.Header.Get("X-Request-Id") != "" {
				e = g.entryByID(t, httpResp.Header.Get("X-Request-Id"))
			} else {
				e = g.waitEntry(t, "the probe key's new request", func(e LedgerEntry) bool { return e.KeyName == "probe" && !before[e.RequestID] })
			}
			if e.Status != "cancelled" || e.Stream != tc.stream || e.Model != "chat-small" {
				raw, _ := json.Marshal(e)
				t.Errorf("ledger entry %s, want status cancelled, stream %v", raw, tc.stream)
			}
		})
	}
}

// readSSE reads a raw SSE body and returns its data payloads and the read error.
func readSSE(r io.Reader) ([]string, error) {
	var out []string
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if data, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data:"); ok {
			out = append(out, strings.TrimSpace(data))
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func TestUpstreamTruncatedStream(t *testing.T) {
	g := sharedGateway(t)
	cases := []struct {
		name   string
		header string
	}{
		{"clean close without DONE", openaifake.HeaderCutAfter},
		{"connection reset", openaifake.HeaderResetAfter},
	}
	body := []byte(`{"model":"chat-small","stream":true,"messages":[{"role":"user","content":"cut me off"}]}`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("raw", func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+devKey)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(openaifake.HeaderChunks, "10")
				req.Header.Set(tc.header, "4")
				resp, err := (&http.Client{Transport: newLeakCheck(t), Timeout: 20 * time.Second}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				events, readErr := readSSE(resp.Body)
				t.Logf("client got %d events, read error %v", len(events), readErr)
				var content strings.Builder
				sawError := false
				for _, ev := range events {
					if ev == "[DONE]" {
						t.Error("the client got [DONE] for a truncated stream")
					}
					if strings.Contains(ev, `"finish_reason":"stop"`) {
						t.Error(`the client got a fake "finish_reason":"stop"`)
					}
					if strings.Contains(ev, `"error"`) {
						sawError = true
					}
					var c struct {
						Choices []struct {
							Delta struct {
								Content string `json:"content"`
							} `json:"delta"`
						} `json:"choices"`
					}
					if json.Unmarshal([]byte(ev), &c) == nil && len(c.Choices) > 0 {
						content.WriteString(c.Choices[0].Delta.Content)
					}
				}
				want := strings.Join(openaifake.Split(openaifake.Reply("cut me off", 0, 10), 10)[:3], "")
				if content.String() != want {
					t.Errorf("client content %q, want the 3 chunks sent before the cut: %q", content.String(), want)
				}
				if !sawError {
					t.Error("no SSE error event told the client the stream was cut")
				}
				e := g.entryByID(t, resp.Header.Get("X-Request-Id"))
				if e.Status != "truncated" || !e.Stream {
					raw, _ := json.Marshal(e)
					t.Errorf("ledger entry %s, want status truncated", raw)
				}
			})
			t.Run("sdk", func(t *testing.T) {
				stream := sdk(t, g, devKey).Chat.Completions.NewStreaming(ctxTimeout(t, 20*time.Second), openai.ChatCompletionNewParams{
					Model:    "chat-small",
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("cut me off")},
				}, option.WithHeader(openaifake.HeaderChunks, "10"), option.WithHeader(tc.header, "4"))
				n := 0
				for stream.Next() {
					n++
				}
				if stream.Err() == nil {
					t.Errorf("the SDK saw a clean end after %d chunks; want an error for a truncated stream", n)
				}
			})
		})
	}
}
