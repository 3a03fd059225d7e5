package batch

import (
	"context"
	"sort"
	"time"
)

// PoolStats are a pool's statistics. Cobalt's nodes report no CPU, memory,
// disk or network usage, so Batch's resourceStats are not among them.
type PoolStats struct {
	// StartTime is the pool's creation; LastUpdateTime when the figures
	// were computed.
	StartTime, LastUpdateTime time.Time
	// DedicatedCoreTime is the core time of the dedicated nodes now in the
	// pool, each from its allocation: nodes that left are not counted.
	DedicatedCoreTime time.Duration
}

// PoolStats computes a pool's statistics. Error: 404 PoolNotFound.
func (s *Service) PoolStats(ctx context.Context, accountKey, poolID string) (PoolStats, error) {
	p, err := s.PoolGet(ctx, accountKey, poolID)
	if err != nil {
		return PoolStats{}, err
	}
	st := PoolStats{StartTime: p.CreationTime, LastUpdateTime: s.now()}
	nodes, err := s.poolNodes(ctx, p.AccountKey, p.ID)
	if err != nil {
		return st, err
	}
	cores := 1
	if vm, ok := LookupVMSize(p.VMSize); ok {
		cores = vm.Cores
	}
	for _, n := range nodes {
		if n.IsDedicated && !n.AllocationTime.IsZero() && st.LastUpdateTime.After(n.AllocationTime) {
			st.DedicatedCoreTime += time.Duration(cores) * st.LastUpdateTime.Sub(n.AllocationTime)
		}
	}
	return st, nil
}

// UsageMetricsInterval is the aggregation interval of the pool usage
// metrics, as on Batch.
const UsageMetricsInterval = 30 * time.Minute

// PoolUsageMetrics is one pool's core hours in one aggregation interval.
type PoolUsageMetrics struct {
	PoolID, VMSize     string
	StartTime, EndTime time.Time
	TotalCoreHours     float64
}

// UsageMetrics returns the account's pool usage per aggregation interval
// (aligned to the half hour), computed from this replica's samples of
// each pool's node count (the sample history, 4 hours by default): the
// intervals that overlap [from, to), or, when both are zero, the latest
// interval with samples. Ordered by start time, then pool ID.
func (s *Service) UsageMetrics(accountKey string, from, to time.Time) []PoolUsageMetrics {
	period := s.samplePeriod()
	s.samples.mu.Lock()
	defer s.samples.mu.Unlock()
	type key struct {
		pool  string
		start time.Time
	}
	sums := map[key]*PoolUsageMetrics{}
	latest := time.Time{}
	for k, h := range s.samples.pools {
		if k[0] != lower(accountKey) {
			continue
		}
		cores := 1
		if vm, ok := LookupVMSize(h.vmSize); ok {
			cores = vm.Cores
		}
		for _, smp := range h.samples {
			start := smp.At.Truncate(UsageMetricsInterval)
			m := sums[key{h.id, start}]
			if m == nil {
				m = &PoolUsageMetrics{PoolID: h.id, VMSize: h.vmSize, StartTime: start, EndTime: start.Add(UsageMetricsInterval)}
				sums[key{h.id, start}] = m
			}
			m.TotalCoreHours += float64((smp.CurrentDedicatedNodes+smp.CurrentLowPriorityNodes)*cores) * period.Hours()
			if start.After(latest) {
				latest = start
			}
		}
	}
	var out []PoolUsageMetrics
	for k, m := range sums {
		switch {
		case from.IsZero() && to.IsZero():
			if !k.start.Equal(latest) {
				continue
			}
		case !from.IsZero() && !m.EndTime.After(from), !to.IsZero() && !m.StartTime.Before(to):
			continue
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartTime.Equal(out[j].StartTime) {
			return out[i].StartTime.Before(out[j].StartTime)
		}
		return out[i].PoolID < out[j].PoolID
	})
	return out
}
