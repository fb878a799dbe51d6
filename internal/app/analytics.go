package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/store"
)

// startAnalytics runs the background jobs of analytics, alerts and the
// request log until ctx ends: the rollup compactor and the alert evaluator
// (each on the node that holds its lease) and the request-log sweeper.
// The returned function waits for them to stop.
// The captures queue writes request_log's captures to the store.
func (s *server) startAnalytics(ctx context.Context, captures *captureQueue) (wait func()) {
	holder := nodeName()
	ev := alert.New(alert.Options{Store: s.store, Rules: s.alertRules, Health: s.health.Snapshot, Holder: holder,
		Client: alert.NewClient(s.allowPrivate), Logger: s.log})
	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		s.store.RunRollupCompactor(ctx, holder, time.Minute, store.RollupRetention{}, s.log)
	}()
	go func() { defer wg.Done(); ev.Run(ctx) }()
	go func() { defer wg.Done(); s.store.RunRequestLogSweeper(ctx, time.Minute, s.log) }()
	go func() { defer wg.Done(); captures.run(ctx, s.store, s.log) }()
	return wg.Wait
}

// captureQueue takes request_log's captures off the request path: a
// bounded queue written to the store by one goroutine; a capture that
// finds the queue full is dropped and counted.
type captureQueue struct {
	ch      chan proxy.Capture
	dropped atomic.Int64
}

func newCaptureQueue() *captureQueue { return &captureQueue{ch: make(chan proxy.Capture, 1024)} }

// Capture implements proxy.CaptureSink; it never blocks.
func (q *captureQueue) Capture(c proxy.Capture) {
	select {
	case q.ch <- c:
	default:
		q.dropped.Add(1)
	}
}

// run writes captures until ctx ends, then those still queued.
func (q *captureQueue) run(ctx context.Context, st *store.Store, log *slog.Logger) {
	write := func(c proxy.Capture) {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := st.InsertCapture(wctx, store.Capture{RequestID: c.RequestID, Time: c.Time, OrgID: c.OrgID, TeamID: c.TeamID,
			AppID: c.AppID, KeyID: c.KeyID, Model: c.Model, Status: c.Status, HTTPStatus: c.HTTPStatus, RequestBody: c.RequestBody,
			ResponseBody: c.ResponseBody, Truncated: c.Truncated, ExpiresAt: c.Time.Add(c.TTL)}); err != nil {
			log.Warn("request log: a capture was not stored", "request_id", c.RequestID, "err", err)
		}
	}
	for {
		select {
		case c := <-q.ch:
			write(c)
		case <-ctx.Done():
			for {
				select {
				case c := <-q.ch:
					write(c)
				default:
					if n := q.dropped.Load(); n > 0 {
						log.Warn("request log: captures dropped on a full queue", "count", n)
					}
					return
				}
			}
		}
	}
}

// alertRules are the file's rules and those made through the admin API.
func (s *server) alertRules() []config.AlertRule {
	s.mu.Lock()
	rules := append([]config.AlertRule(nil), s.file.AlertRules...)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stored, err := s.store.ListAlertRules(ctx)
	if err != nil {
		s.log.Warn("alert rules: the stored ones are unreadable", "err", err)
		return rules
	}
	for _, r := range stored {
		var rule config.AlertRule
		if err := json.Unmarshal([]byte(r.Spec), &rule); err != nil {
			s.log.Warn("alert rules: a stored rule is unreadable", "rule", r.Name, "err", err)
			continue
		}
		rules = append(rules, rule)
	}
	return rules
}

// nodeName names this process in leases and alert transitions.
func nodeName() string {
	h, err := os.Hostname()
	if err != nil {
		h = "node"
	}
	return fmt.Sprintf("%s/%d", h, os.Getpid())
}
