package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/runtime"
)

// Cache results, in the x-sluice-cache header, the ledger and the metric.
const (
	cacheHit    = "hit"
	cacheMiss   = "miss"
	cacheBypass = "bypass"
)

// maxCacheTTL bounds a per-request TTL override.
const maxCacheTTL = 24 * time.Hour

// cacheWrite is a miss to be stored once its answer completed.
type cacheWrite struct {
	key cache.Key
	ttl time.Duration
	// sem is the semantic cache's probe, nil when the model has no
	// semantic cache or the request bypassed it (semanticcache.go).
	sem *cache.Probe
}

// cacheLookup answers a request of a cached model from the cache: the
// stored canonical answer rendered by the client's codec, streamed or not
// as the request asks. A miss goes on and its answer is stored if it
// completes. Cache-Control: no-cache skips the lookup (the answer is still
// stored), no-store skips both; x-sluice-cache-ttl overrides the TTL.
func (h *Handler) cacheLookup(ctx context.Context, c *Call, next Next) error {
	if h.cache == nil || !chatLike(c) {
		return next(ctx, c)
	}
	ttl, ok := c.snap.Cache.For(c.fs.model.Name)
	if !ok {
		return next(ctx, c)
	}
	cc := strings.ToLower(c.r.Header.Get("Cache-Control"))
	if v := c.r.Header.Get("X-Sluice-Cache-Ttl"); v != "" {
		d, err := parseTTL(v)
		if err != nil {
			return errBadRequest("invalid_value", "", "x-sluice-cache-ttl must be a duration such as 60s, or seconds.")
		}
		ttl = d
	}
	if strings.Contains(cc, "no-store") || ttl <= 0 {
		c.setCache(cacheBypass)
		return next(ctx, c)
	}
	key, err := cache.KeyOf(cache.Request{Scope: h.cacheScope(c), Protocol: string(c.in.proto), Model: c.fs.model.Name,
		Target: routeTargets(selectRoute(c.r, c, c.fs)), Body: c.fs.body, Drop: []string{"stream", "stream_options"}})
	if err != nil { // not canonical JSON (a duplicate member, say): never cached
		c.setCache(cacheBypass)
		return next(ctx, c)
	}
	if !strings.Contains(cc, "no-cache") {
		if data, ok, _ := h.cache.Get(ctx, key); ok { // a store error is a miss
			var resp llm.Response
			if json.Unmarshal(data, &resp) == nil {
				return h.serveHit(c, &resp)
			}
		}
	}
	cw := &cacheWrite{key: key, ttl: ttl}
	if sc, ok := c.snap.Cache.Semantic[c.fs.model.Name]; ok && h.opts.Semantic != nil {
		if resp := h.semanticLookup(ctx, c, sc, cw, !strings.Contains(cc, "no-cache")); resp != nil {
			return h.serveHit(c, resp)
		}
	}
	c.setCache(cacheMiss)
	c.cacheWrite = cw
	c.fs.translate = true // the answer is kept in canonical form
	return next(ctx, c)
}

// parseTTL reads a duration ("60s") or a number of seconds.
func parseTTL(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.ParseInt(v, 10, 64)
		if nerr != nil || n < 0 {
			return 0, err
		}
		d = time.Duration(min(n, int64(maxCacheTTL/time.Second))) * time.Second
	}
	if d < 0 {
		return 0, err
	}
	return min(d, maxCacheTTL), nil
}

// cacheScope isolates tenants: the key's organisation (or the key itself
// when it belongs to none), unless sharing is configured globally.
func (h *Handler) cacheScope(c *Call) string {
	if c.snap.Cache != nil && c.snap.Cache.Global {
		return "global"
	}
	if c.key.OrgID != "" {
		return "org:" + c.key.OrgID
	}
	return "key:" + c.key.ID
}

// routeTargets names a route's targets (provider/model, in order): the
// upstream part of a cache key.
func routeTargets(rt *runtime.Route) string {
	var b strings.Builder
	for _, t := range rt.Targets {
		b.WriteString(t.Provider.Name())
		b.WriteByte('/')
		b.WriteString(t.Model)
		b.WriteByte(',')
	}
	return b.String()
}

func (c *Call) setCache(result string) {
	c.entry.Cache = result
	c.w.Header().Set("X-Sluice-Cache", result)
}

// serveHit answers from a stored answer. The provider's cost is 0; the
// ledger records what the answer saved. Tokens are not counted against
// limits, and the budget's reservation is released.
func (h *Handler) serveHit(c *Call, resp *llm.Response) error {
	req, err := h.decoded(c)
	if err != nil {
		return err
	}
	c.setCache(cacheHit)
	cc := h.opts.Codecs.Clients[c.in.proto]
	e := &c.entry
	e.Provider, e.ServedModel = "cache", resp.Model
	e.SavedCostMicros = c.fs.model.Price.Cost(resp.Usage)
	e.Status, e.HTTPStatus = ledger.StatusOK, http.StatusOK
	e.Attempts = []ledger.Attempt{}
	w := c.w
	hdr := w.Header()
	c.wrote = true
	if !c.fs.stream {
		out, err := cc.EncodeResponse(req, resp)
		if err != nil {
			c.wrote = false
			return err
		}
		hdr.Set("Content-Type", "application/json")
		hdr.Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
		e.TTFT = time.Since(c.start)
		return nil
	}
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	sw := cc.NewStreamWriter(&buf, req)
	for _, ev := range replay(resp) {
		_ = sw.Write(ev)
	}
	e.TTFT = time.Since(c.start)
	_, _ = w.Write(buf.Bytes())
	_ = http.NewResponseController(w).Flush()
	return nil
}

// replay turns a complete answer into the events of its stream.
func replay(resp *llm.Response) []llm.Event {
	u := resp.Usage
	evs := []llm.Event{{Type: llm.EvStart, ID: resp.ID, Model: resp.Model, Usage: &meter.Usage{InputTokens: u.InputTokens, CachedTokens: u.CachedTokens}}}
	for i := range resp.Content {
		p := resp.Content[i]
		block := p
		block.Text, block.Arguments, block.Signature = "", nil, ""
		evs = append(evs, llm.Event{Type: llm.EvBlockStart, Index: i, Block: &block})
		switch p.Type {
		case llm.PartText:
			evs = append(evs, llm.Event{Type: llm.EvTextDelta, Index: i, Text: p.Text})
		case llm.PartThinking:
			evs = append(evs, llm.Event{Type: llm.EvThinkingDelta, Index: i, Text: p.Text})
			if p.Signature != "" {
				evs = append(evs, llm.Event{Type: llm.EvSignatureDelta, Index: i, Text: p.Signature})
			}
		case llm.PartToolCall:
			evs = append(evs, llm.Event{Type: llm.EvToolArgsDelta, Index: i, Text: string(p.Arguments)})
		}
		evs = append(evs, llm.Event{Type: llm.EvBlockStop, Index: i})
	}
	return append(evs, llm.Event{Type: llm.EvStop, StopReason: resp.StopReason, StopSeq: resp.StopSeq, Usage: &u})
}

// cacheable reports an answer worth keeping: complete, not cut by the
// token limit, not refused or filtered.
func cacheable(resp *llm.Response) bool {
	switch resp.StopReason {
	case llm.StopEndTurn, llm.StopSequence, llm.StopToolUse:
		return len(resp.Content) > 0
	}
	return false
}

// storeAnswer keeps a miss's complete answer, canonical, as the client
// received it (guarded, placeholders restored: a hit needs the same
// request body, so the same values).
func (h *Handler) storeAnswer(c *Call, resp *llm.Response) {
	cw := c.cacheWrite
	if cw == nil || !cacheable(resp) {
		return
	}
	data, err := json.Marshal(resp)
	if err != nil {
		return
	}
	// The request may be gone; the answer is complete and still worth
	// keeping, within a bound.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.r.Context()), time.Second)
	defer cancel()
	_ = h.cache.Set(ctx, cw.key, data, cw.ttl)
	h.putSemantic(cw, data)
}

// collector rebuilds a streamed answer from its events, for the cache.
type collector struct {
	resp  llm.Response
	parts map[int]*llm.Part
}

func (k *collector) event(ev llm.Event) {
	if k.parts == nil {
		k.parts = map[int]*llm.Part{}
	}
	p := k.parts[ev.Index]
	switch ev.Type {
	case llm.EvStart:
		k.resp.ID, k.resp.Model = ev.ID, ev.Model
		if ev.Usage != nil {
			k.resp.Usage = *ev.Usage
		}
		return
	case llm.EvStop:
		k.resp.StopReason, k.resp.StopSeq = ev.StopReason, ev.StopSeq
		if ev.Usage != nil {
			k.resp.Usage = *ev.Usage
		}
		return
	case llm.EvBlockStart:
		if ev.Block != nil {
			b := *ev.Block
			k.parts[ev.Index] = &b
		}
		return
	}
	if p == nil {
		p = &llm.Part{Type: llm.PartText}
		k.parts[ev.Index] = p
	}
	switch ev.Type {
	case llm.EvTextDelta, llm.EvThinkingDelta:
		p.Text += ev.Text
	case llm.EvToolArgsDelta:
		p.Arguments = append(p.Arguments, ev.Text...)
	case llm.EvSignatureDelta:
		p.Signature += ev.Text
	}
}

// response is the answer collected, its blocks in index order.
func (k *collector) response() *llm.Response {
	idx := make([]int, 0, len(k.parts))
	for i := range k.parts {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	r := k.resp
	r.Content = make([]llm.Part, 0, len(idx))
	for _, i := range idx {
		r.Content = append(r.Content, *k.parts[i])
	}
	return &r
}
