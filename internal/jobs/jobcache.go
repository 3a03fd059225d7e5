package jobs

import (
	"bytes"
	"context"
	"sync"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// maxDecodedJobs bounds the decoded-job cache: one entry per job, so a
// replica with more live jobs than this decodes some of them again.
const maxDecodedJobs = 1024

// decodedJobs keeps the last decoding of each job's record. It never stands
// in for the store: every use reads the record first, and an entry serves
// only a record equal to the one it was decoded from (spec bytes, state,
// version, times and ID's case), so it is exact without invalidation; a
// job written anywhere simply misses once. At most maxDecodedJobs entries;
// when full, an arbitrary one makes room.
type decodedJobs struct {
	mu sync.Mutex
	m  map[string]*decodedJob // "account\x00job key" -> entry
}

type decodedJob struct {
	rec store.JobRecord
	job *cobalt.Job
}

// sameRecord reports whether a and b decode to the same job.
func sameRecord(a, b *store.JobRecord) bool {
	return a.Version == b.Version && a.ID == b.ID && a.State == b.State &&
		a.UpdatedAt.Equal(b.UpdatedAt) && a.CreatedAt.Equal(b.CreatedAt) && bytes.Equal(a.Spec, b.Spec)
}

// decode returns the job of r, decoding it only when r differs from the
// record its entry was decoded from. The job is shared: callers must not
// modify it.
func (c *decodedJobs) decode(r store.JobRecord) (*cobalt.Job, error) {
	key := r.AccountKey + "\x00" + r.Key
	c.mu.Lock()
	e := c.m[key]
	c.mu.Unlock()
	if e != nil && sameRecord(&e.rec, &r) {
		return e.job, nil
	}
	j, err := jobFromRecord(r)
	if err != nil {
		return nil, err
	}
	e = &decodedJob{rec: r, job: &j}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*decodedJob{}
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= maxDecodedJobs {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = e
	return e.job, nil
}

// sharedJob reads the job from the store, as GetJob, and returns its
// decoding shared with other readers of the same record: read-only paths
// (claims, reports) use it; callers must not modify the job.
func (s *Service) sharedJob(ctx context.Context, accountID, jobID string) (*cobalt.Job, error) {
	r, err := s.st.JobGet(ctx, accountID, jobID)
	if err != nil {
		return nil, errJobNotFound(err)
	}
	return s.jobDecodes.decode(r)
}
