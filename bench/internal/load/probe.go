package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// ProbeOptions configure a first-event probe.
type ProbeOptions struct {
	// Streams are sent one after another on one keep-alive connection;
	// the first Warmup of them are not counted.
	Streams, Warmup int
	// Header is added to every request: X-Fake-Chunks: 1 makes each stream
	// one chunk long, so that it ends at once and the connections (the
	// client's and a proxy's upstream one) are reused.
	Header  http.Header
	Timeout time.Duration
	// Nonce makes this run's request bodies unique.
	Nonce string
}

// ProbeResult holds a probe's figures.
type ProbeResult struct {
	Streams      int // counted streams that ended well
	Failed       int // no 200, no event, or a read error
	FirstProblem string
	// TTFE is the time from sending the request to the end of the first
	// SSE event.
	TTFEP50, TTFEP99 time.Duration
}

// Probe measures the time to the first event of streams sent one at a time
// on a warm connection: the latency a proxy adds to a stream when nothing
// else competes for the cores. The streams' content is not checked (the
// stream tests do that); each must answer 200, send at least one event
// and end without a read error.
func Probe(ctx context.Context, t Target, o ProbeOptions) ProbeResult {
	tr := newTransport(1)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: o.Timeout}
	var r ProbeResult
	ttfe := make([]time.Duration, 0, o.Streams)
	for i := range o.Warmup + o.Streams {
		if ctx.Err() != nil {
			break
		}
		d, err := probeOne(ctx, client, t, t.Dialect.Stream(o.Nonce, i).Body, o.Header)
		if i < o.Warmup {
			continue
		}
		if err != nil {
			r.Failed++
			if r.FirstProblem == "" {
				r.FirstProblem = fmt.Sprintf("stream %d: %v", i, err)
			}
			continue
		}
		ttfe = append(ttfe, d)
	}
	slices.Sort(ttfe)
	r.Streams = len(ttfe)
	r.TTFEP50, r.TTFEP99 = Percentile(ttfe, 50), Percentile(ttfe, 99)
	return r
}

func probeOne(ctx context.Context, client *http.Client, t Target, body []byte, hdr http.Header) (time.Duration, error) {
	req, err := t.newRequest(ctx, body)
	if err != nil {
		return 0, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return 0, fmt.Errorf("status %d: %q", resp.StatusCode, b)
	}
	var buf []byte
	chunk := make([]byte, 4096)
	var first time.Duration
	for {
		n, err := resp.Body.Read(chunk)
		if n > 0 && first == 0 {
			buf = append(buf, chunk[:n]...)
			if bytes.Contains(buf, []byte("\n\n")) {
				first = time.Since(start)
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("reading: %w", err)
			}
			break
		}
	}
	if first == 0 {
		return 0, errors.New("no complete event")
	}
	return first, nil
}
