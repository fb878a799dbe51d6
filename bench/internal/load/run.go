package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Target is one path under test.
type Target struct {
	Name    string
	BaseURL string      // e.g. http://127.0.0.1:8080
	Header  http.Header // credentials, added to every request
	Dialect Dialect
}

func (t Target) newRequest(ctx context.Context, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.BaseURL+t.Dialect.Path(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	t.Dialect.SetHeaders(req.Header)
	for k, v := range t.Header {
		req.Header[k] = v
	}
	return req, nil
}

// newTransport returns a keep-alive HTTP/1.1 transport that keeps up to
// conns idle connections to the target and never compresses.
func newTransport(conns int) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
	}
}

// ClosedOptions configure a closed-loop run.
type ClosedOptions struct {
	Conns    int           // concurrent connections, each sending its next request when the last one ends
	Warmup   time.Duration // not measured
	Duration time.Duration // measured window
	// Begin and End, when set, are called at the edges of the measured
	// window (to read the CPU time of the processes under test).
	Begin, End func()
}

// ClosedResult holds a closed-loop run's figures for the measured window.
type ClosedResult struct {
	Requests   int // 200 responses that passed the dialect's check
	Exact      int // of those, byte-exact copies of what the upstream sent
	Errors     int // transport errors, non-200 answers and failed checks
	FirstError string
	Window     time.Duration
	RPS        float64
	P50, P99   time.Duration
}

// Closed runs a closed loop of o.Conns connections against t. Requests are
// counted when they end inside the measured window.
func Closed(ctx context.Context, t Target, o ClosedOptions) ClosedResult {
	tr := newTransport(o.Conns)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	t0 := time.Now().Add(o.Warmup)
	t1 := t0.Add(o.Duration)
	type tally struct {
		lat       []time.Duration
		exact     int
		errs      int
		firstErr  string
		lastStart time.Time
	}
	tallies := make([]tally, o.Conns)
	var wg sync.WaitGroup
	for w := range o.Conns {
		wg.Go(func() {
			tl := &tallies[w]
			tl.lat = make([]time.Duration, 0, 4096)
			var buf bytes.Buffer
			for i := w; ; i += o.Conns {
				start := time.Now()
				if !start.Before(t1) || ctx.Err() != nil {
					return
				}
				call := t.Dialect.Call(i)
				exact, err := do(ctx, client, t, call, &buf)
				end := time.Now()
				if end.Before(t0) || end.After(t1) {
					continue
				}
				if err != nil {
					tl.errs++
					if tl.firstErr == "" {
						tl.firstErr = err.Error()
					}
					continue
				}
				tl.lat = append(tl.lat, end.Sub(start))
				if exact {
					tl.exact++
				}
			}
		})
	}
	sleepUntil(ctx, t0)
	if o.Begin != nil {
		o.Begin()
	}
	sleepUntil(ctx, t1)
	if o.End != nil {
		o.End()
	}
	wg.Wait()

	var r ClosedResult
	var lat []time.Duration
	for _, tl := range tallies {
		lat = append(lat, tl.lat...)
		r.Exact += tl.exact
		r.Errors += tl.errs
		if r.FirstError == "" {
			r.FirstError = tl.firstErr
		}
	}
	slices.Sort(lat)
	r.Requests = len(lat)
	r.Window = o.Duration
	r.RPS = float64(r.Requests) / o.Duration.Seconds()
	r.P50 = Percentile(lat, 50)
	r.P99 = Percentile(lat, 99)
	return r
}

func do(ctx context.Context, client *http.Client, t Target, call Call, buf *bytes.Buffer) (bool, error) {
	req, err := t.newRequest(ctx, call.Body)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return false, fmt.Errorf("reading body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("status %d: %.200q", resp.StatusCode, buf.Bytes())
	}
	return call.Check(buf.Bytes())
}

func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// Percentile returns the p-th percentile (nearest rank) of sorted durations.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// StreamOptions configure a stream run.
type StreamOptions struct {
	Streams int
	// Ramp spreads the stream starts evenly over this time, so that all of
	// them are open at once (a stream lasts chunks×gap) without a connect
	// storm at t=0.
	Ramp time.Duration
	// Timeout bounds each stream.
	Timeout time.Duration
	// Nonce makes this run's request bodies unique.
	Nonce string
	// Begin is called before the first stream starts, End after the last
	// one ended.
	Begin, End func()
}

// StreamResult holds a stream run's figures.
type StreamResult struct {
	Streams    int
	OK         int // byte-exact, ended with [DONE]
	Failed     int // no 200 response (transport error or status)
	Truncated  int
	Reordered  int
	NoDone     int
	Mismatch   int
	ReadErrors int // the body ended with an error (e.g. unexpected EOF)
	// FirstProblem describes the first stream that was not OK.
	FirstProblem string
	// TTFE is the time from sending the request to the end of the first
	// SSE event; Gap is the time between two events of one stream, as
	// received (events that arrive in one read count as a zero gap).
	TTFEP50, TTFEP99 time.Duration
	GapP50, GapP99   time.Duration
	Wall             time.Duration
}

type streamTally struct {
	ttfe    time.Duration
	events  int
	gaps    []time.Duration
	failed  bool
	readErr error
	problem string
	verdict struct{ ok, truncated, reordered, noDone, mismatch bool }
}

// Streams opens o.Streams SSE streams against t, spread over o.Ramp, reads
// each to its end and verifies it.
func Streams(ctx context.Context, t Target, o StreamOptions) StreamResult {
	tr := newTransport(o.Streams)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	calls := make([]StreamCall, o.Streams)
	for i := range calls {
		calls[i] = t.Dialect.Stream(o.Nonce, i)
	}
	tallies := make([]streamTally, o.Streams)
	if o.Begin != nil {
		o.Begin()
	}
	begin := time.Now()
	var wg sync.WaitGroup
	for i := range o.Streams {
		sleepUntil(ctx, begin.Add(o.Ramp*time.Duration(i)/time.Duration(o.Streams)))
		wg.Go(func() { readStream(ctx, client, t, calls[i], o.Timeout, &tallies[i]) })
	}
	wg.Wait()
	r := StreamResult{Streams: o.Streams, Wall: time.Since(begin)}
	if o.End != nil {
		o.End()
	}

	var ttfe, gaps []time.Duration
	for i := range tallies {
		tl := &tallies[i]
		if tl.failed {
			r.Failed++
		} else if tl.verdict.ok {
			r.OK++
		}
		if tl.events > 0 {
			ttfe = append(ttfe, tl.ttfe)
		}
		if tl.readErr != nil {
			r.ReadErrors++
		}
		if tl.verdict.truncated {
			r.Truncated++
		}
		if tl.verdict.reordered {
			r.Reordered++
		}
		if tl.verdict.noDone {
			r.NoDone++
		}
		if tl.verdict.mismatch {
			r.Mismatch++
		}
		if r.FirstProblem == "" && tl.problem != "" {
			r.FirstProblem = fmt.Sprintf("stream %d: %s", i, tl.problem)
		}
		gaps = append(gaps, tl.gaps...)
	}
	slices.Sort(ttfe)
	slices.Sort(gaps)
	r.TTFEP50, r.TTFEP99 = Percentile(ttfe, 50), Percentile(ttfe, 99)
	r.GapP50, r.GapP99 = Percentile(gaps, 50), Percentile(gaps, 99)
	return r
}

func readStream(ctx context.Context, client *http.Client, t Target, call StreamCall, timeout time.Duration, tl *streamTally) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := t.newRequest(ctx, call.Body)
	if err != nil {
		tl.failed, tl.problem = true, err.Error()
		return
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		tl.failed, tl.problem = true, err.Error()
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		tl.failed, tl.problem = true, fmt.Sprintf("status %d: %q", resp.StatusCode, b)
		return
	}
	buf := make([]byte, 0, len(call.Want)+4096)
	limit := 4*len(call.Want) + 4096
	var last time.Time
	tl.gaps = make([]time.Duration, 0, 64)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 4096)
		}
		n, err := resp.Body.Read(buf[len(buf):cap(buf)])
		if n > 0 {
			now := time.Now()
			from := max(0, len(buf)-1)
			buf = buf[:len(buf)+n]
			for {
				i := bytes.Index(buf[from:], []byte("\n\n"))
				if i < 0 {
					break
				}
				from += i + 2
				tl.events++
				if tl.events == 1 {
					tl.ttfe = now.Sub(start)
				} else {
					tl.gaps = append(tl.gaps, now.Sub(last))
				}
				last = now
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				tl.readErr = err
			}
			break
		}
		if len(buf) > limit {
			tl.readErr = errors.New("stream longer than expected")
			break
		}
	}
	v := call.Verify(buf)
	tl.verdict.ok = v.OK() && tl.readErr == nil
	tl.verdict.truncated, tl.verdict.reordered = v.Truncated, v.Reordered
	tl.verdict.noDone, tl.verdict.mismatch = v.NoDone, v.Mismatch
	if !tl.verdict.ok {
		tl.problem = v.Detail
		if tl.readErr != nil {
			tl.problem = fmt.Sprintf("%s (read error: %v)", tl.problem, tl.readErr)
		}
	}
}

// Fixed sends exactly n non-stream requests over conns connections and
// returns how many passed the dialect's check, and the first error.
func Fixed(ctx context.Context, t Target, conns, n int) (ok int, firstErr error) {
	tr := newTransport(conns)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			var buf bytes.Buffer
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n || ctx.Err() != nil {
					return
				}
				_, err := do(ctx, client, t, t.Dialect.Call(i), &buf)
				mu.Lock()
				if err == nil {
					ok++
				} else if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ok, firstErr
}
