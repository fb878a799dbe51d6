package app

import (
	"context"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/experiment"
)

// experimentsEvery is how often a node reads the experiments again, so
// that one created or promoted on another node applies here too.
const experimentsEvery = 2 * time.Second

// FeedbackMetricType tells the admin API the type of a declared feedback
// metric (config feedback_metrics).
func (s *server) FeedbackMetricType(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.file.Feedback(name)
	return m.Type, ok
}

// ExperimentsChanged reads the experiments again after an admin change on
// this node.
func (s *server) ExperimentsChanged(ctx context.Context) {
	if err := s.loadExperiments(ctx); err != nil {
		s.log.Warn("reading experiments failed; the data plane keeps the ones it has", "err", err)
	}
}

// FileExperiments tells the data plane and the admin API the experiments
// the configuration file declares.
func (s *server) FileExperiments() []experiment.Experiment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.file.FileExperiments()
}

// loadExperiments applies the file's experiments, then the stored ones
// (the first experiment per model or prompt wins: the file's).
func (s *server) loadExperiments(ctx context.Context) error {
	stored, err := s.store.Experiments(ctx)
	if err != nil {
		return err
	}
	s.experiments.Store(append(s.FileExperiments(), stored...))
	return nil
}

// watchExperiments loads the experiments, then reloads them every
// experimentsEvery until the returned stop is called (which waits for
// the goroutine).
func (s *server) watchExperiments(ctx context.Context) (stop func()) {
	s.ExperimentsChanged(ctx)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(experimentsEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.loadExperiments(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("reading experiments failed; the data plane keeps the ones it has", "err", err)
				}
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}
