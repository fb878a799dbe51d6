package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/runtime"
)

// The semantic cache: after an exact-cache miss, a request of a model with
// cache mode semantic and no tools is embedded (its whole prompt as text)
// and answered with the stored answer of a similar enough prompt of the same
// scope, model, route and sampling settings. Any failure to embed bypasses
// it; it never fails a request.

// maxEmbedWait bounds one embedding call, whatever the target's timeouts.
const maxEmbedWait = 10 * time.Second

type embedModelKey struct{}

// withEmbedModel returns a context that tells Embed which model embeds.
func withEmbedModel(ctx context.Context, m *runtime.Model) context.Context {
	return context.WithValue(ctx, embedModelKey{}, m)
}

// Embed is the semantic cache's embedder (cache.Embedder). It calls the
// embedding model that the request's cache settings name (carried by ctx)
// through its provider directly, not through the data plane: the default
// route's OpenAI-protocol targets in order, the first answer winning. The
// call is not recorded in the ledger and counts against no limit.
func Embed(ctx context.Context, text string) ([]float32, error) {
	m, _ := ctx.Value(embedModelKey{}).(*runtime.Model)
	if m == nil || m.Default == nil {
		return nil, errors.New("no embedding model")
	}
	err := errors.New("the embedding model has no OpenAI-compatible target")
	for _, t := range m.Default.Targets {
		if t.Provider.Protocol() != provider.ProtocolOpenAI {
			continue
		}
		var v []float32
		if v, err = embedOnce(ctx, t, text); err == nil {
			return v, nil
		}
	}
	return nil, err
}

func embedOnce(ctx context.Context, t runtime.Target, text string) ([]float32, error) {
	body, err := json.Marshal(map[string]string{"model": t.Model, "input": text})
	if err != nil {
		return nil, err
	}
	req := &provider.Request{Op: provider.OpEmbeddings, Body: body, Model: t.Model}
	if t.Keys != nil {
		_, req.APIKey = t.Keys.Pick()
	}
	wait := maxEmbedWait
	if t.Timeouts.Total > 0 {
		wait = min(wait, t.Timeouts.Total)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	resp, err := t.Provider.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("embedding upstream answered %d", resp.StatusCode)
	}
	var out struct {
		Data []struct {
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&out); err != nil {
		return nil, err
	}
	if len(out.Data) == 0 {
		return nil, errors.New("embedding upstream answered no vector")
	}
	return out.Data[0].Embedding, nil
}

// semStored is what the semantic cache holds: the canonical answer and
// when it expires (the model's TTL; the cache's own TTL is the longest).
type semStored struct {
	Expires time.Time       `json:"exp"`
	Resp    json.RawMessage `json:"resp"`
}

// semanticLookup returns a stored answer for a similar prompt, or nil; on
// a miss it sets what storeAnswer puts in the semantic cache. lookup false
// (Cache-Control: no-cache) only prepares the store.
func (h *Handler) semanticLookup(ctx context.Context, c *Call, sc runtime.SemanticCache, cw *cacheWrite, lookup bool) *llm.Response {
	req, err := h.decoded(c)
	if err != nil || len(req.Tools) > 0 {
		return nil
	}
	prompt, ok := promptText(req)
	if !ok {
		return nil
	}
	em := c.snap.Models[sc.Embedding]
	if em == nil {
		return nil
	}
	p, err := h.opts.Semantic.Probe(withEmbedModel(ctx, em), semanticScope(c), semanticModel(c, req), prompt)
	if err != nil { // an embedding error or a prompt too long: bypass
		h.log.Debug("semantic cache bypassed", "model", c.fs.model.Name, "err", err)
		return nil
	}
	if lookup {
		if data, sim, ok := h.opts.Semantic.Lookup(p); ok && sim >= sc.Threshold {
			var st semStored
			var resp llm.Response
			if json.Unmarshal(data, &st) == nil && time.Now().Before(st.Expires) && json.Unmarshal(st.Resp, &resp) == nil {
				return &resp
			}
		}
	}
	cw.sem = p
	return nil
}

// semanticScope is the organisation (or the key, when it belongs to none),
// even when the exact cache is shared globally: a similar question of
// another tenant must never get this tenant's answer.
func semanticScope(c *Call) string {
	if c.key.OrgID != "" {
		return "org:" + c.key.OrgID
	}
	return "key:" + c.key.ID
}

// putSemantic stores a complete answer (canonical JSON) under the miss's
// probe.
func (h *Handler) putSemantic(cw *cacheWrite, data []byte) {
	if cw.sem == nil || h.opts.Semantic == nil {
		return
	}
	st, err := json.Marshal(semStored{Expires: time.Now().Add(cw.ttl), Resp: data})
	if err == nil {
		h.opts.Semantic.Put(cw.sem, st)
	}
}

// semanticModel is the probe's model: the model the client named, the
// route's targets and the settings besides the prompt that shape an
// answer, so that only requests alike in all but wording share answers.
func semanticModel(c *Call, req *llm.Request) string {
	settings, _ := json.Marshal(struct {
		MaxTokens        int                 `json:"m,omitempty"`
		Temperature      *float64            `json:"t,omitempty"`
		TopP             *float64            `json:"p,omitempty"`
		TopK             *int                `json:"k,omitempty"`
		Stop             []string            `json:"s,omitempty"`
		Seed             *int64              `json:"e,omitempty"`
		FrequencyPenalty *float64            `json:"f,omitempty"`
		PresencePenalty  *float64            `json:"r,omitempty"`
		ResponseFormat   *llm.ResponseFormat `json:"o,omitempty"`
		Thinking         *llm.Thinking       `json:"h,omitempty"`
	}{req.MaxTokens, req.Temperature, req.TopP, req.TopK, req.Stop, req.Seed, req.FrequencyPenalty, req.PresencePenalty, req.ResponseFormat, req.Thinking})
	return c.fs.model.Name + "\x00" + routeTargets(selectRoute(c.r, c, c.fs)) + "\x00" + string(settings)
}

// promptText is the whole prompt as text: the system prompt and every
// message, each under its role. A request with anything but text (an
// image, a tool call or result) has none: it is not semantically cached.
func promptText(req *llm.Request) (string, bool) {
	var b strings.Builder
	write := func(role string, parts []llm.Part) bool {
		for _, p := range parts {
			if p.Type != llm.PartText {
				return false
			}
			b.WriteString(role)
			b.WriteString(": ")
			b.WriteString(p.Text)
			b.WriteByte('\n')
		}
		return true
	}
	if !write("system", req.System) {
		return "", false
	}
	for _, m := range req.Messages {
		if !write(string(m.Role), m.Content) {
			return "", false
		}
	}
	return b.String(), b.Len() > 0
}

var _ cache.Embedder = Embed
