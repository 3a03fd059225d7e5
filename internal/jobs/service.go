package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/decoded"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// PoolScheduling is what the scheduler needs to know about a pool.
type PoolScheduling struct {
	// TaskSlotsPerNode is the number of slots of each node (default 1).
	TaskSlotsPerNode int
	// NodeFillType is "pack" or "spread" (default "spread", as Batch).
	NodeFillType string
}

// PoolLookup gives the pool a node belongs to (*batch.Service implements
// it); ENotFound when the pool does not exist. accountID is the Batch
// account's ARM ID in any case. The pool may be shared with other callers:
// it must not be modified.
type PoolLookup interface {
	Pool(ctx context.Context, accountID, poolID string) (*cobalt.Pool, error)
}

// AutoStorage resolves a resource file's autoStorageContainerName into the URL
// of that container in the Batch account's auto-storage account (for example
// "https://127.0.0.1:PORT/<storageaccount>/<container>"). ENotFound when the
// account has no auto-storage.
type AutoStorage interface {
	AutoStorageContainerURL(ctx context.Context, accountID, containerName string) (string, error)
}

// Config configures a Service.
type Config struct {
	Store  store.JobStore
	Logger *slog.Logger
	Now    func() time.Time
	// Pools gives pools' taskSlotsPerNode and nodeFillType; nil means one
	// slot per free slot the agent reports and "pack".
	Pools PoolLookup
	// AutoStorage resolves autoStorageContainerName; nil fails such tasks.
	AutoStorage AutoStorage
	// PollInterval is how often a waiting Lease re-reads the queue, to see
	// tasks added through another replica (default 1s).
	PollInterval time.Duration
	// LeaseGrace is added to a task's maxWallClockTime to get the lease expiry
	// the server enforces if the agent does not (default 2 min).
	LeaseGrace time.Duration
	// SweepInterval is how often Run looks for expired leases (default 5s).
	SweepInterval time.Duration
	// LostLeaseAge is how long a claimed task may be missing from its node's
	// running list before Reconcile requeues it (default 60s).
	LostLeaseAge time.Duration
	// RemoveTaskFiles, when set, deletes a completed task's directory on the
	// node it ran on once its retentionTime has passed (for local nodes:
	// os.RemoveAll of taskrun.TaskDir). Nil keeps task files.
	RemoveTaskFiles func(ctx context.Context, accountID, nodeID, jobID, taskID string) error
}

// Service implements Batch jobs and tasks and the task dispatcher.
type Service struct {
	cfg Config
	st  store.JobStore
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	waiters map[string]map[*waiter]struct{} // pool key ("account\x00pool") -> waiting Lease calls
	probes  queueProbes                     // coalesced queue reads and their recent answers, by pool key

	// Heartbeats' reads, many nodes at a time (nodebatch.go).
	leasedOf   nodeBatch[store.TaskRecord]
	releasesOf nodeBatch[store.JobPrepRecord]

	claimLocks sync.Map // pool key -> *sync.Mutex (lockPoolClaims)

	relMu    sync.Mutex
	releases map[string]*releaseQueue // job key ("account\x00job") -> the pass releasing its dependents

	jobDecodes *decoded.Cache[store.JobRecord, *cobalt.Job] // the last decoding of each job read on the claim and report paths (jobcache.go)
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("jobs: a store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.LeaseGrace <= 0 {
		cfg.LeaseGrace = 2 * time.Minute
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 5 * time.Second
	}
	if cfg.LostLeaseAge <= 0 {
		cfg.LostLeaseAge = 60 * time.Second
	}
	s := &Service{cfg: cfg, st: cfg.Store, jobDecodes: newJobDecodes(), log: cfg.Logger, now: cfg.Now, waiters: map[string]map[*waiter]struct{}{},
		releases: map[string]*releaseQueue{}}
	// An empty pool's answer serves its leases for one poll interval: a
	// task added through this replica invalidates it at once (notify),
	// one added elsewhere is seen within that interval, as by a waiting lease.
	s.probes.maxAge = cfg.PollInterval
	s.leasedOf.read, s.leasedOf.nodeOf = s.st.TaskLeasedToNodes, func(r store.TaskRecord) string { return r.NodeID }
	s.releasesOf.read, s.releasesOf.nodeOf = s.st.JobPrepReleasesOf, func(r store.JobPrepRecord) string { return r.NodeID }
	return s, nil
}

// Run sweeps every SweepInterval until ctx ends: a task whose lease outlived
// its maxWallClockTime plus LeaseGrace is completed with failure TaskEnded; a
// job that outlived its maxWallClockTime is terminated; completed tasks past
// their retentionTime have their files removed (see RemoveTaskFiles); due
// job schedules create their jobs (FireDueSchedules); deleting and
// terminating jobs whose nodes went away without running their release
// task end (SweepEndingJobs). Every
// waitingSweepEvery sweeps it also settles waiting tasks against the
// completed tasks of their jobs (SweepWaiting).
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			sweeps := map[string]func(context.Context) error{
				"expired leases": s.SweepExpiredLeases, "job wall clock": s.SweepJobWallClock, "retention": s.SweepRetention,
				"job schedules": s.FireDueSchedules, "ending jobs": s.SweepEndingJobs,
			}
			if n%waitingSweepEvery == 0 {
				sweeps["waiting tasks"] = s.SweepWaiting
			}
			for name, sweep := range sweeps {
				if err := sweep(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("sweep", logkey.Sweep, name, logkey.Err, err)
				}
			}
		}
	}
}

// ETag formats a version as a Batch-style ETag.
func ETag(version int64) string { return fmt.Sprintf("0x8D%014X", version) }

// check evaluates the conditions against a record's ETag and modification time.
func (c Conditions) check(etag string, modified time.Time) error {
	fail := errPrecondition()
	m := func(h string) bool {
		for _, v := range strings.Split(h, ",") {
			v = strings.Trim(strings.TrimSpace(v), `"`)
			v = strings.TrimPrefix(v, "W/")
			if v == "*" || v == etag {
				return true
			}
		}
		return false
	}
	if c.IfMatch != "" && !m(c.IfMatch) {
		return fail
	}
	if c.IfNoneMatch != "" && m(c.IfNoneMatch) {
		return fail
	}
	mod := modified.Truncate(time.Second)
	if c.IfModifiedSince != nil && !mod.After(*c.IfModifiedSince) {
		return fail
	}
	if c.IfUnmodifiedSince != nil && mod.After(*c.IfUnmodifiedSince) {
		return fail
	}
	return nil
}

func newLeaseID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validID checks a job or task ID: 1..64 letters, digits, '-' and '_'.
func validID(id, target string) error {
	if id == "" {
		return missingProp(target)
	}
	if len(id) > 64 {
		return invalidProp(target, "The value provided for %s is longer than 64 characters.", target)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return invalidProp(target, "The value provided for %s contains characters other than letters, digits, hyphens and underscores.", target)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
