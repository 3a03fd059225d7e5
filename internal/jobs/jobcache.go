package jobs

import (
	"bytes"
	"context"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/decoded"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// newJobDecodes returns the cache of the last decoding of each job read on
// the claim and report paths: the record is read from the store every
// time, and decoded again only when it differs from the one decoded (spec
// bytes, state, version, times and ID's case).
func newJobDecodes() *decoded.Cache[store.JobRecord, *cobalt.Job] {
	return &decoded.Cache[store.JobRecord, *cobalt.Job]{Same: sameRecord, Decode: func(r store.JobRecord) (*cobalt.Job, error) {
		j, err := jobFromRecord(r)
		if err != nil {
			return nil, err
		}
		return &j, nil
	}}
}

// sameRecord reports whether a and b decode to the same job.
func sameRecord(a, b *store.JobRecord) bool {
	return a.Version == b.Version && a.ID == b.ID && a.State == b.State &&
		a.UpdatedAt.Equal(b.UpdatedAt) && a.CreatedAt.Equal(b.CreatedAt) && bytes.Equal(a.Spec, b.Spec)
}

// sharedJob reads the job from the store, as GetJob, and returns its
// decoding shared with other readers of the same record: read-only paths
// (claims, reports) use it; callers must not modify the job.
func (s *Service) sharedJob(ctx context.Context, accountID, jobID string) (*cobalt.Job, error) {
	r, err := s.st.JobGet(ctx, accountID, jobID)
	if err != nil {
		return nil, errJobNotFound(err)
	}
	return s.jobDecodes.Get(r.AccountKey+"\x00"+r.Key, r)
}
