package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/guard"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/runtime"
)

// guardState is a request's guardrails: set by guard_input, read by the
// relay (guard_output) and by the cache.
type guardState struct {
	masker *guard.Masker
	out    *guard.Set // the output stage (empty when none runs there)
	// schemas check the answer's text as a whole (json_schema).
	schemas []*runtime.SchemaGuard
}

// rewrites reports whether the answer must pass through the canonical
// form: an output guardrail runs, or placeholders are to be restored.
func (g *guardState) rewrites() bool {
	return g != nil && (!g.out.Empty() || g.masker.Reversible() || len(g.schemas) > 0)
}

// chatLike reports a request whose text guardrails and the cache apply to:
// a chat completion, a message, a Responses call or a Gemini generation
// (not embeddings, token counts or local answers).
func chatLike(c *Call) bool {
	return c.fs != nil && !c.fs.local && (c.in.op == provider.OpChat || c.in.op == provider.OpResponses)
}

// guardInput applies the input guardrails of every level that applies (the
// model, the key, its application, team and organisation) to every text of
// the request. Without guardrails the request is untouched (forwarded byte
// for byte). A mask rewrites the request through the canonical form; a
// block refuses it in the client's dialect, naming the guardrail and never
// what matched.
func (h *Handler) guardInput(ctx context.Context, c *Call, next Next) error {
	if !chatLike(c) {
		return next(ctx, c)
	}
	ap := c.snap.Guardrails.Applying(c.key, c.fs.model.Name)
	if ap.Empty() {
		return next(ctx, c)
	}
	gs, hooks, schemas := ap.Guards, ap.Webhooks, ap.Schemas
	st := &guardState{masker: guard.NewMasker(), out: guard.NewSet(guard.Output, gs...), schemas: schemas}
	c.guard = st
	if in := guard.NewSet(guard.Input, gs...); !in.Empty() || len(hooks) > 0 {
		if path, dup := repeatedKey(c.fs.body); dup {
			return errBadRequest("duplicate_key", path, "The request body repeats the field '%s' (names that differ only in case count as the same field); a guarded request must name each field once.", path)
		}
		req, err := h.decoded(c)
		if err != nil {
			return err
		}
		res, changed := applyRequest(in, req, st.masker)
		c.addVerdicts(res, guard.Input)
		if res.Blocked != nil {
			c.entry.Status = ledger.StatusBlocked
			return blockedError(res.Blocked.Guardrail, "request")
		}
		c.fs.translate = c.fs.translate || changed
		// Webhooks see the texts as the upstream will: masked.
		if err := h.callWebhooks(ctx, c, hooks, requestTexts(req)); err != nil {
			return err
		}
	}
	c.fs.translate = c.fs.translate || st.rewrites()
	return next(ctx, c)
}

// requestTexts lists every text of req that the guardrails read.
func requestTexts(req *llm.Request) []string {
	var out []string
	var add func(parts []llm.Part)
	add = func(parts []llm.Part) {
		for _, p := range parts {
			switch p.Type {
			case llm.PartText:
				out = append(out, p.Text)
			case llm.PartToolResult:
				add(p.Content)
			}
		}
	}
	add(req.System)
	for _, m := range req.Messages {
		add(m.Content)
	}
	return out
}

// webhookClient calls webhook guardrails; it follows no redirect.
var webhookClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// callWebhooks asks each webhook guardrail in turn. A block refuses the
// request (unless the guardrail only logs); a call that fails or times out
// refuses it with 503 (fail: closed) or lets it through (fail: open).
func (h *Handler) callWebhooks(ctx context.Context, c *Call, hooks []*runtime.Webhook, texts []string) error {
	for _, wh := range hooks {
		block, err := askWebhook(ctx, wh, c, texts)
		if err != nil {
			if wh.FailOpen {
				h.log.Warn("guardrail webhook failed; the request goes on (fail: open)", "guardrail", wh.Name, "request_id", c.id, "err", err)
				continue
			}
			return &Error{Status: http.StatusServiceUnavailable, Type: oa.TypeServer, Code: "guardrail_unavailable",
				Msg: fmt.Sprintf("The guardrail %q could not be checked; try again.", wh.Name), Cause: err}
		}
		if !block {
			continue
		}
		action := guard.Block
		if wh.LogOnly {
			action = guard.Log
		}
		c.addVerdicts(guard.Result{Findings: []guard.Finding{{Guardrail: wh.Name, Action: action, Entity: "webhook", Count: 1}}}, guard.Input)
		if !wh.LogOnly {
			c.entry.Status = ledger.StatusBlocked
			return blockedError(wh.Name, "request")
		}
	}
	return nil
}

// askWebhook posts the texts and reads the verdict: {"action": "allow"}
// or {"action": "block"}.
func askWebhook(ctx context.Context, wh *runtime.Webhook, c *Call, texts []string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, wh.Timeout)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"guardrail": wh.Name, "stage": "input", "request_id": c.id,
		"model": c.fs.model.Name, "texts": texts})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wh.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range wh.Headers {
		req.Header.Set(k, v)
	}
	resp, err := webhookClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return false, fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	var v struct {
		Action string `json:"action"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&v); err != nil {
		return false, fmt.Errorf("webhook answer: %w", err)
	}
	switch v.Action {
	case "allow":
		return false, nil
	case "block":
		return true, nil
	}
	return false, fmt.Errorf("webhook answered action %q", v.Action)
}

// decoded is the client request in canonical form, decoded once.
func (h *Handler) decoded(c *Call) (*llm.Request, error) {
	if c.fs.decoded != nil {
		return c.fs.decoded, nil
	}
	cc := h.opts.Codecs.Clients[c.in.proto]
	if cc == nil {
		return nil, errBadRequest("unsupported", "", "This endpoint cannot be read by Sluice's translators.")
	}
	req, err := llm.DecodeChecked(cc, c.fs.body, nameFromPath(c.fs)) // fs.body passed checkJSON
	if err != nil {
		return nil, err
	}
	c.fs.decoded = req
	return req, nil
}

// applyRequest runs set over every text of req (system, messages, tool
// results), in place, with one masker so that a value keeps its
// placeholder across messages.
func applyRequest(set *guard.Set, req *llm.Request, m *guard.Masker) (guard.Result, bool) {
	var res guard.Result
	changed := false
	var apply func(parts []llm.Part)
	apply = func(parts []llm.Part) {
		for i := range parts {
			p := &parts[i]
			switch p.Type {
			case llm.PartText:
				r := set.Apply(p.Text, m)
				res.Merge(r)
				if r.Text != p.Text {
					p.Text, changed = r.Text, true
				}
			case llm.PartToolResult:
				apply(p.Content)
			}
		}
	}
	apply(req.System)
	for i := range req.Messages {
		apply(req.Messages[i].Content)
	}
	return res, changed
}

// guardResponse applies the output guardrails to a complete answer, in
// place. It returns the blocking guardrail's name, or "".
func (c *Call) guardResponse(resp *llm.Response) string {
	g := c.guard
	if g == nil {
		return ""
	}
	var whole strings.Builder
	for _, p := range resp.Content {
		if p.Type == llm.PartText {
			whole.WriteString(p.Text)
		}
	}
	if name := c.checkSchemas(whole.String()); name != "" {
		return name
	}
	if g.out.Empty() {
		return ""
	}
	var res guard.Result
	for i := range resp.Content {
		if p := &resp.Content[i]; p.Type == llm.PartText {
			r := g.out.Apply(p.Text, g.masker)
			res.Merge(r)
			p.Text = r.Text
		}
	}
	c.addVerdicts(res, guard.Output)
	if res.Blocked != nil {
		return res.Blocked.Guardrail
	}
	return ""
}

// maxSchemaText bounds the answer text a json_schema guardrail keeps; a
// longer answer does not match.
const maxSchemaText = 1 << 20

// checkSchemas checks an answer's whole text against the json_schema
// guardrails: it must be a JSON document each schema accepts. It records
// each mismatch and returns the first blocking guardrail's name, or "".
func (c *Call) checkSchemas(text string) string {
	blocked := ""
	for _, sg := range c.guard.schemas {
		ok := len(text) <= maxSchemaText
		if ok {
			doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
			ok = err == nil && sg.Schema.Validate(doc) == nil
		}
		if ok {
			continue
		}
		action := guard.Block
		if sg.LogOnly {
			action = guard.Log
		}
		c.addVerdicts(guard.Result{Findings: []guard.Finding{{Guardrail: sg.Name, Action: action, Entity: "json_schema", Count: 1}}}, guard.Output)
		if !sg.LogOnly && blocked == "" {
			blocked = sg.Name
		}
	}
	return blocked
}

// restoreResponse puts the request's reversible placeholders back into a
// complete answer, in place.
func (c *Call) restoreResponse(resp *llm.Response) {
	if c.guard == nil || !c.guard.masker.Reversible() {
		return
	}
	for i := range resp.Content {
		if p := &resp.Content[i]; p.Type == llm.PartText {
			p.Text = c.guard.masker.Restore(p.Text)
		}
	}
}

// addVerdicts records a stage's findings on the ledger entry: the
// guardrail, its action and the number of matches, never the text.
func (c *Call) addVerdicts(res guard.Result, stage guard.Stage) {
	for _, f := range res.Findings {
		found := false
		for i := range c.entry.Guardrails {
			v := &c.entry.Guardrails[i]
			if v.Guardrail == f.Guardrail && v.Stage == string(stage) {
				v.Count += f.Count
				found = true
			}
		}
		if !found {
			c.entry.Guardrails = append(c.entry.Guardrails, ledger.Verdict{Guardrail: f.Guardrail, Action: string(f.Action),
				Stage: string(stage), Count: f.Count})
		}
	}
}

// blockedError is the refusal of a request or answer that a guardrail
// blocked: it names the guardrail, never what matched.
func blockedError(name, what string) *Error {
	return &Error{Status: http.StatusForbidden, Type: oa.TypePermission, Code: "guardrail_blocked",
		Msg: fmt.Sprintf("The %s was blocked by the guardrail %q.", what, name)}
}

// outputGuard runs a streamed answer's text deltas through the output
// guardrails, one guard.Stream per content block, and restores reversible
// placeholders after them. Once a guardrail blocks, nothing more passes.
type outputGuard struct {
	c        *Call
	text     strings.Builder // the answer's text, for the json_schema guardrails
	streams  map[int]*guard.Stream
	restores map[int]*guard.RestoreStream
	blocked  string // the blocking guardrail's name
}

func newOutputGuard(c *Call) *outputGuard {
	return &outputGuard{c: c, streams: map[int]*guard.Stream{}, restores: map[int]*guard.RestoreStream{}}
}

// filter passes one event on to out, its text guarded; a block's held-back
// text is flushed before the block's stop and before the answer's stop.
func (g *outputGuard) filter(ev llm.Event, out func(llm.Event)) {
	if g.blocked != "" {
		return
	}
	switch ev.Type {
	case llm.EvTextDelta:
		if len(g.c.guard.schemas) > 0 && g.text.Len() <= maxSchemaText {
			g.text.WriteString(ev.Text)
		}
		text := g.stream(ev.Index).Write(ev.Text)
		if g.check(ev.Index) {
			return
		}
		g.emitText(ev.Index, g.restore(ev.Index, text, false), out)
		return
	case llm.EvBlockStop:
		if !g.flush(ev.Index, out) {
			return
		}
	case llm.EvStop, llm.EvError:
		for i := range g.streams {
			if !g.flush(i, out) {
				return
			}
		}
		if ev.Type == llm.EvStop && len(g.c.guard.schemas) > 0 {
			if name := g.c.checkSchemas(g.text.String()); name != "" {
				g.blocked = name // the error event replaces the stop
				return
			}
		}
	}
	out(ev)
}

func (g *outputGuard) stream(i int) *guard.Stream {
	st := g.streams[i]
	if st == nil {
		st = g.c.guard.out.Stream(g.c.guard.masker)
		g.streams[i] = st
	}
	return st
}

// check records a block, and reports it.
func (g *outputGuard) check(i int) bool {
	if f := g.streams[i].Blocked(); f != nil {
		g.blocked = f.Guardrail
		return true
	}
	return false
}

func (g *outputGuard) restore(i int, text string, final bool) string {
	if !g.c.guard.masker.Reversible() {
		return text
	}
	rs := g.restores[i]
	if rs == nil {
		rs = g.c.guard.masker.RestoreStream()
		g.restores[i] = rs
	}
	text = rs.Write(text)
	if final {
		text += rs.Flush()
	}
	return text
}

func (g *outputGuard) emitText(i int, text string, out func(llm.Event)) {
	if text != "" {
		out(llm.Event{Type: llm.EvTextDelta, Index: i, Text: text})
	}
}

// flush emits block i's held-back text; false when that blocked.
func (g *outputGuard) flush(i int, out func(llm.Event)) bool {
	st := g.streams[i]
	if st == nil {
		return true
	}
	text := st.Flush()
	if g.check(i) {
		return false
	}
	g.emitText(i, g.restore(i, text, true), out)
	g.c.addVerdicts(st.Result(), guard.Output)
	delete(g.streams, i)
	delete(g.restores, i)
	return true
}

// done records the verdicts of blocks that never ended (a blocked or cut
// stream).
func (g *outputGuard) done() {
	for i, st := range g.streams {
		g.c.addVerdicts(st.Result(), guard.Output)
		delete(g.streams, i)
	}
}
