package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/tidwall/gjson"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/provider"
)

// Feedback is one answer about a request, as POST /v1/sluice/feedback
// stores it: a boolean as 0 or 1 in Value, a float as it is, a category
// in Label.
type Feedback struct {
	ID             string    `json:"id"`
	RequestID      string    `json:"request_id"`
	KeyID          string    `json:"-"`
	AppID          string    `json:"-"`
	Metric         string    `json:"metric"`
	Value          float64   `json:"-"`
	Label          string    `json:"-"`
	Comment        string    `json:"comment,omitempty"`
	IdempotencyKey string    `json:"-"`
	Time           time.Time `json:"created_at"`
}

// ErrUnknownRequest is what FeedbackStore.RequestOwner returns for a
// request id the ledger does not hold.
var ErrUnknownRequest = errors.New("unknown request id")

// FeedbackStore keeps feedback beside the ledger (the store in
// production). Its methods are called concurrently.
type FeedbackStore interface {
	// Metric returns the declared feedback metric (config
	// feedback_metrics) named name.
	Metric(name string) (config.FeedbackMetric, bool)
	// RequestOwner returns the key and application of a ledger row, or
	// ErrUnknownRequest.
	RequestOwner(ctx context.Context, requestID string) (keyID, appID string, err error)
	// AddFeedback stores f and reports true; when f's key already used
	// f's idempotency key it stores nothing and returns that first row
	// and false.
	AddFeedback(ctx context.Context, f Feedback) (Feedback, bool, error)
}

var inFeedback = &ingress{endpoint: "feedback", proto: provider.ProtocolOpenAI, keyFrom: headerKey, serve: (*Handler).feedback}

// Bounds on a feedback request.
const (
	maxFeedbackBody    = 64 << 10
	maxFeedbackComment = 4096
	maxIdempotencyKey  = 255
	// recentRequests is how many request owners each process remembers,
	// so that feedback sent right after its answer does not wait for the
	// ledger's next commit.
	recentRequests = 16384
)

// ledgerWait is how long an unknown request id is looked for in the
// ledger before the answer is 404 (its row may be in a commit window).
var ledgerWait = 3 * time.Second

// feedbackFields are refused repeated or spelt in another case, which
// encoding/json would accept (the last one, case-insensitively).
var feedbackFields = []field{{names: []string{"request_id"}}, {names: []string{"metric"}}, {names: []string{"value"}}, {names: []string{"comment"}}}

type feedbackBody struct {
	RequestID string          `json:"request_id"`
	Metric    string          `json:"metric"`
	Value     json.RawMessage `json:"value"`
	Comment   string          `json:"comment"`
}

// feedbackView is the answer: the stored row, its value in the metric's
// own type.
type feedbackView struct {
	Object string `json:"object"`
	Feedback
	Value any `json:"value"`
}

func errFeedback(status int, code, param, msg string) *Error {
	typ := oa.TypeInvalidRequest
	return &Error{Status: status, Type: typ, Code: code, Param: param, Msg: msg}
}

// feedback serves POST /v1/sluice/feedback: a declared metric's value
// about a request made with the same key, or with a key of the same
// application.
func (h *Handler) feedback(c *Call) error {
	fs := h.opts.Feedback
	if fs == nil {
		return errFeedback(http.StatusNotFound, "feedback_disabled", "", "Feedback is not enabled on this gateway.")
	}
	r := c.r
	idem := r.Header.Get("Idempotency-Key")
	if len(idem) > maxIdempotencyKey {
		return errFeedback(http.StatusBadRequest, "invalid_idempotency_key", "", "The Idempotency-Key header is longer than 255 bytes.")
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.w, r.Body, maxFeedbackBody))
	if err != nil {
		return errTooLarge
	}
	if err := checkFieldsIn(gjson.ParseBytes(data), feedbackFields, ""); err != nil {
		return err
	}
	var b feedbackBody
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || dec.More() {
		return errFeedback(http.StatusBadRequest, "invalid_json", "", "The body must be a JSON object with request_id, metric, value and an optional comment.")
	}
	switch {
	case b.RequestID == "" || len(b.RequestID) > 128:
		return errFeedback(http.StatusBadRequest, "invalid_request_id", "request_id", "request_id is required (the X-Request-Id of the answer).")
	case len(b.Comment) > maxFeedbackComment:
		return errFeedback(http.StatusBadRequest, "comment_too_long", "comment", "comment is longer than 4096 bytes.")
	}
	m, ok := fs.Metric(b.Metric)
	if !ok {
		return errFeedback(http.StatusBadRequest, "unknown_metric", "metric", "No feedback metric named "+quoteClip(b.Metric)+" is declared (feedback_metrics).")
	}
	f := Feedback{RequestID: b.RequestID, KeyID: c.key.ID, AppID: c.key.AppID, Metric: m.Name, Comment: b.Comment, IdempotencyKey: idem}
	if err := feedbackValue(m, b.Value, &f); err != nil {
		return err
	}
	keyID, appID, err := h.requestOwner(r.Context(), fs, b.RequestID)
	if errors.Is(err, ErrUnknownRequest) || (err == nil && keyID != c.key.ID && (appID == "" || appID != c.key.AppID)) {
		// Another key's request is as unknown as a missing one: its
		// existence is not the caller's to learn.
		return errFeedback(http.StatusNotFound, "unknown_request_id", "request_id", "No request "+quoteClip(b.RequestID)+" made with this key or application.")
	}
	if err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Type: oa.TypeServer, Code: "ledger_unavailable", Msg: "Feedback cannot be stored right now.", Cause: err}
	}
	stored, created, err := fs.AddFeedback(r.Context(), f)
	if err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Type: oa.TypeServer, Code: "ledger_unavailable", Msg: "Feedback cannot be stored right now.", Cause: err}
	}
	status := http.StatusCreated
	if !created {
		if stored.RequestID != f.RequestID || stored.Metric != f.Metric || stored.Value != f.Value || stored.Label != f.Label || stored.Comment != f.Comment {
			return errFeedback(http.StatusConflict, "idempotency_key_reused", "", "This Idempotency-Key was used for different feedback.")
		}
		status = http.StatusOK
	}
	v := feedbackView{Object: "sluice.feedback", Feedback: stored, Value: stored.Value}
	switch m.Type {
	case config.FeedbackBoolean:
		v.Value = stored.Value == 1
	case config.FeedbackCategory:
		v.Value = stored.Label
	}
	body, _ := json.Marshal(v)
	c.w.Header().Set("Content-Type", "application/json")
	c.wrote = true
	c.entry.HTTPStatus = status
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
	return nil
}

// feedbackValue checks raw against m's type and puts it into f.
func feedbackValue(m config.FeedbackMetric, raw json.RawMessage, f *Feedback) error {
	bad := func(want string) error {
		return errFeedback(http.StatusBadRequest, "invalid_value", "value", "Metric "+m.Name+" takes "+want+".")
	}
	switch m.Type {
	case config.FeedbackBoolean:
		var v bool
		if json.Unmarshal(raw, &v) != nil {
			return bad("true or false")
		}
		if v {
			f.Value = 1
		}
	case config.FeedbackFloat:
		var v float64
		if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &v) != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return bad("a number")
		}
		if (m.Min != nil && v < *m.Min) || (m.Max != nil && v > *m.Max) {
			return bad("a number in its declared range")
		}
		f.Value = v
	case config.FeedbackCategory:
		var v string
		if json.Unmarshal(raw, &v) != nil || !slices.Contains(m.Values, v) {
			return bad("one of its declared values")
		}
		f.Label = v
	default:
		return bad("a value of a known type")
	}
	return nil
}

// requestOwner finds who made a request: this process's recent requests
// first, then the ledger, which it asks again for a few seconds (the row
// may still be in the ledger's commit window).
func (h *Handler) requestOwner(ctx context.Context, fs FeedbackStore, id string) (keyID, appID string, err error) {
	if o, ok := h.recent.get(id); ok {
		return o.keyID, o.appID, nil
	}
	deadline := time.Now().Add(ledgerWait)
	for {
		keyID, appID, err = fs.RequestOwner(ctx, id)
		if !errors.Is(err, ErrUnknownRequest) || time.Now().After(deadline) {
			return keyID, appID, err
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			return "", "", ctx.Err()
		}
	}
}

// rememberStep notes who made each authenticated request once it ends,
// for feedback on it.
func (h *Handler) rememberStep(ctx context.Context, c *Call, next Next) error {
	defer func() {
		if c.key != nil && c.id != "" && c.in != inFeedback {
			h.recent.put(c.id, owner{keyID: c.key.ID, appID: c.key.AppID})
		}
	}()
	return next(ctx, c)
}

type owner struct{ keyID, appID string }

// recentOwners is a bounded map of request id to owner: the oldest
// entry goes when a new one comes past the bound.
type recentOwners struct {
	mu   sync.Mutex // guards all below
	byID map[string]owner
	ring []string
	next int
}

func (r *recentOwners) put(id string, o owner) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID == nil {
		r.byID = make(map[string]owner, recentRequests)
		r.ring = make([]string, recentRequests)
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.byID, old)
	}
	r.ring[r.next] = id
	r.next = (r.next + 1) % len(r.ring)
	r.byID[id] = o
}

func (r *recentOwners) get(id string) (owner, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.byID[id]
	return o, ok
}

func quoteClip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}
