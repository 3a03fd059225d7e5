package arm

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Replicas share long-running operations through the store: the process
// that starts one owns it under a lease it renews every OperationPoll; a
// replica that finds an operation in progress whose lease lapsed takes it
// over (compare-and-swap on the record, so one replica wins) and finishes it
// with the provider's ResumeFunc, or fails it. Whoever records the end
// first wins; a later finish of the same operation is dropped.

// errFinished aborts the update of an operation that has already ended.
var errFinished = errors.New("operation already finished")

// errNotOurs aborts a lease update on an operation another process owns now.
var errNotOurs = errors.New("operation owned elsewhere")

// defaultOperationLease is Config.OperationLease's default.
const defaultOperationLease = 15 * time.Second

func (s *Server) operationLease() time.Duration {
	if s.cfg.OperationLease > 0 {
		return s.cfg.OperationLease
	}
	return defaultOperationLease
}

// launch runs fn for the operation opID, which this process owns, and
// records its end.
func (o *operations) launch(opID cobalt.ResourceID, fn func(ctx context.Context) (any, error)) {
	key := opID.Key()
	o.mu.Lock()
	o.mine[key] = opID
	o.mu.Unlock()
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		res, err := fn(o.base)
		o.finish(opID, res, err)
		o.mu.Lock()
		delete(o.mine, key)
		o.mu.Unlock()
	}()
}

// renew extends the lease of every operation this process runs.
func (o *operations) renew(ctx context.Context) {
	o.mu.Lock()
	ids := make([]cobalt.ResourceID, 0, len(o.mine))
	for _, id := range o.mine {
		ids = append(ids, id)
	}
	o.mu.Unlock()
	for _, id := range ids {
		_, err := o.s.cfg.Store.ResourceUpdate(ctx, id.Key(), func(r *store.Resource) error {
			var rec operationRecord
			if err := json.Unmarshal(r.Body, &rec); err != nil {
				return err
			}
			if rec.Status != OpInProgress {
				return errFinished
			}
			if rec.Owner != o.replica {
				return errNotOurs
			}
			until := o.s.cfg.Now().UTC().Add(o.s.operationLease())
			rec.LeaseUntil = &until
			b, err := json.Marshal(rec)
			r.Body = b
			return err
		})
		if err != nil && !errors.Is(err, errFinished) && !cobalt.IsCode(err, cobalt.ENotFound) && ctx.Err() == nil {
			o.s.log.Warn("renewing an operation's lease failed", logkey.Operation, id.String(), logkey.Err, err)
		}
	}
}

// takeOver claims every operation in progress whose lease has lapsed and
// finishes it here.
func (o *operations) takeOver(ctx context.Context) error {
	tok := ""
	for {
		rs, next, err := o.s.cfg.Store.ResourceList(ctx, store.ResourceListParams{Type: typeOperation, Page: store.Page{Limit: 500, Token: tok}})
		if err != nil {
			return err
		}
		for _, r := range rs {
			var rec operationRecord
			if json.Unmarshal(r.Body, &rec) != nil || !o.lapsed(rec) {
				continue
			}
			id, err := cobalt.ParseResourceID(r.ID)
			if err != nil {
				continue
			}
			claimed, err := o.claim(ctx, id)
			if err != nil || !claimed {
				continue
			}
			o.resumeOne(id)
		}
		if next == "" {
			return nil
		}
		tok = next
	}
}

// lapsed reports whether an operation is in progress with a lapsed lease
// (or none: records made before leases, by a process that is gone).
func (o *operations) lapsed(rec operationRecord) bool {
	if rec.Status != OpInProgress || rec.Owner == o.replica {
		return false
	}
	now := o.s.cfg.Now()
	if rec.LeaseUntil == nil {
		return rec.StartTime.Add(o.s.operationLease()).Before(now)
	}
	return rec.LeaseUntil.Before(now)
}

// claim makes this process the operation's owner if its lease is still
// lapsed; it reports the kind to resume with ("" for none) and whether it won.
func (o *operations) claim(ctx context.Context, id cobalt.ResourceID) (bool, error) {
	won := false
	_, err := o.s.cfg.Store.ResourceUpdate(ctx, id.Key(), func(r *store.Resource) error {
		var rec operationRecord
		if err := json.Unmarshal(r.Body, &rec); err != nil {
			return err
		}
		if !o.lapsed(rec) {
			return errNotOurs
		}
		until := o.s.cfg.Now().UTC().Add(o.s.operationLease())
		rec.Owner, rec.LeaseUntil = o.replica, &until
		b, err := json.Marshal(rec)
		r.Body = b
		won = err == nil
		return err
	})
	if errors.Is(err, errNotOurs) {
		return false, nil
	}
	return won && err == nil, err
}

// resumeOne finishes a claimed operation with its provider's ResumeFunc, or
// fails it when there is none.
func (o *operations) resumeOne(id cobalt.ResourceID) {
	res, err := o.s.cfg.Store.ResourceGet(o.base, id.Key())
	if err != nil {
		return
	}
	var rec operationRecord
	if json.Unmarshal(res.Body, &rec) != nil {
		return
	}
	o.mu.Lock()
	fn := o.resume[rec.Kind]
	o.mu.Unlock()
	target, perr := cobalt.ParseResourceID(rec.ResourceID)
	if fn == nil || rec.Kind == "" || perr != nil {
		o.s.log.Warn("failing an operation its replica abandoned", logkey.Operation, id.String())
		o.finish(id, nil, cobalt.Errorf(cobalt.EInternal, "The operation was interrupted: the replica running it stopped.").WithReason("OperationInterrupted"))
		return
	}
	o.s.log.Info("resuming an operation its replica abandoned", logkey.Operation, id.String())
	o.launch(id, func(ctx context.Context) (any, error) { return fn(ctx, target) })
}
