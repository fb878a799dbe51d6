package app

import (
	"context"
	"errors"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/store"
)

// feedbackStore serves the data plane's feedback from the store, with the
// metrics the current file declares.
type feedbackStore struct{ s *server }

var _ proxy.FeedbackStore = feedbackStore{}

func (f feedbackStore) Metric(name string) (config.FeedbackMetric, bool) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	return f.s.file.Feedback(name)
}

func (f feedbackStore) RequestOwner(ctx context.Context, requestID string) (string, string, error) {
	k, a, err := f.s.store.RequestOwner(ctx, requestID)
	if errors.Is(err, store.ErrNotFound) {
		err = proxy.ErrUnknownRequest
	}
	return k, a, err
}

func (f feedbackStore) AddFeedback(ctx context.Context, fb proxy.Feedback) (proxy.Feedback, bool, error) {
	got, created, err := f.s.store.AddFeedback(ctx, store.Feedback{RequestID: fb.RequestID, KeyID: fb.KeyID, AppID: fb.AppID,
		Metric: fb.Metric, Value: fb.Value, Label: fb.Label, Comment: fb.Comment, IdempotencyKey: fb.IdempotencyKey})
	return proxy.Feedback{ID: got.ID, RequestID: got.RequestID, KeyID: got.KeyID, AppID: got.AppID, Metric: got.Metric,
		Value: got.Value, Label: got.Label, Comment: got.Comment, Time: got.Time}, created, err
}
