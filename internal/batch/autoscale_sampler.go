package batch

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// TaskMetrics counts the tasks of each pool's jobs for the autoscale
// samples; *jobs.Service satisfies it.
type TaskMetrics interface {
	// PoolTaskCounts returns the task counts of the account's pools that
	// have jobs, keyed by pool ID in lower case. It is safe for concurrent use.
	PoolTaskCounts(ctx context.Context, accountKey string) (map[string]cobalt.PoolTaskCounts, error)
}

// AutoScaleOptions set the metric sampling behind autoscale formulas.
type AutoScaleOptions struct {
	// SamplePeriod is how often every pool is sampled (default 30 s, Batch's).
	SamplePeriod time.Duration
	// History is how much sample history each pool keeps (default 4 h).
	History time.Duration
	// EvaluationInterval, when set, replaces every pool's
	// autoScaleEvaluationInterval: an installation option for tests and
	// demos, since Batch's minimum interval is 5 minutes.
	EvaluationInterval time.Duration
}

// UseTaskMetrics gives the pool service the task counts its samples take.
// Without them, formulas cannot read the task variables ($PendingTasks, ...).
func (s *Service) UseTaskMetrics(m TaskMetrics) {
	s.samples.mu.Lock()
	defer s.samples.mu.Unlock()
	s.samples.metrics = m
}

func (s *Service) samplePeriod() time.Duration {
	if p := s.cfg.AutoScale.SamplePeriod; p > 0 {
		return p
	}
	return DefaultSamplePeriod
}

// sampler keeps each pool's recent samples in memory. Every replica
// samples every pool from the shared store, so whichever replica evaluates
// a formula has a history; a restarted replica starts a new one.
type sampler struct {
	mu      sync.Mutex
	metrics TaskMetrics
	last    time.Time
	pools   map[[2]string]*poolHistory // by (account key, lower-case pool ID)
}

type poolHistory struct {
	// id and vmSize are the pool's, for the usage metrics.
	id, vmSize string
	samples    []PoolSample
	// succeeded and failed are the completed-task totals at the last sample;
	// primed says there was one.
	succeeded, failed int
	primed            bool
}

// history returns a copy of a pool's samples and whether they count tasks.
func (sm *sampler) history(accountKey, poolID string) ([]PoolSample, bool) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	h := sm.pools[[2]string{accountKey, strings.ToLower(poolID)}]
	if h == nil {
		return nil, sm.metrics != nil
	}
	return append([]PoolSample(nil), h.samples...), sm.metrics != nil
}

// sampleIfDue samples every pool when a sample period has passed since the
// last sample (by the service's clock).
func (s *Service) sampleIfDue(ctx context.Context) {
	now := s.now()
	s.samples.mu.Lock()
	due := s.samples.last.IsZero() || !now.Before(s.samples.last.Add(s.samplePeriod()))
	if due {
		s.samples.last = now
	}
	metrics := s.samples.metrics
	s.samples.mu.Unlock()
	if !due {
		return
	}
	if err := s.sampleAll(ctx, now, metrics); err != nil && ctx.Err() == nil {
		s.log.Warn("pool sampling failed", logkey.Err, err)
	}
}

// sampleAll takes one sample of every active pool.
func (s *Service) sampleAll(ctx context.Context, now time.Time, metrics TaskMetrics) error {
	type taken struct {
		id, vm string
		key    [2]string
		sample PoolSample
		counts cobalt.PoolTaskCounts
	}
	var all []taken
	counts := map[string]map[string]cobalt.PoolTaskCounts{}
	page := store.Page{Limit: 500}
	for {
		ps, next, err := s.cfg.Store.PoolList(ctx, store.PoolListParams{Page: page})
		if err != nil {
			return err
		}
		for _, r := range ps {
			p, err := decodePool(r)
			if err != nil || p.State != PoolActive {
				continue
			}
			t := taken{id: p.ID, vm: p.VMSize, key: [2]string{r.AccountKey, strings.ToLower(r.ID)},
				sample: PoolSample{At: now, CurrentDedicatedNodes: p.CurrentDedicatedNodes, CurrentLowPriorityNodes: p.CurrentLowPriorityNodes}}
			if metrics != nil {
				c, ok := counts[r.AccountKey]
				if !ok {
					if c, err = metrics.PoolTaskCounts(ctx, r.AccountKey); err != nil {
						return err
					}
					counts[r.AccountKey] = c
				}
				t.counts = c[t.key[1]]
				t.sample.ActiveTasks, t.sample.RunningTasks = t.counts.Active, t.counts.Running
			}
			all = append(all, t)
		}
		if next == "" {
			break
		}
		page.Token = next
	}
	keep := s.cfg.AutoScale.History
	if keep <= 0 {
		keep = 4 * time.Hour
	}
	s.samples.mu.Lock()
	defer s.samples.mu.Unlock()
	old := s.samples.pools
	s.samples.pools = make(map[[2]string]*poolHistory, len(all))
	for _, t := range all {
		h := old[t.key]
		if h == nil {
			h = &poolHistory{}
		}
		// Completions since the last sample; a total that fell (a job was
		// deleted) counts none.
		if h.primed {
			t.sample.SucceededTasks = max(0, t.counts.Succeeded-h.succeeded)
			t.sample.FailedTasks = max(0, t.counts.Failed-h.failed)
		}
		h.succeeded, h.failed, h.primed = t.counts.Succeeded, t.counts.Failed, true
		h.id, h.vmSize = t.id, t.vm
		h.samples = append(h.samples, t.sample)
		cut := 0
		for cut < len(h.samples) && h.samples[cut].At.Before(now.Add(-keep)) {
			cut++
		}
		h.samples = h.samples[cut:]
		s.samples.pools[t.key] = h
	}
	return nil
}
