package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt/internal/store"
)

// Audit records are written with group commit: every AuditAppend waits until
// its record is committed (so none is lost once the call returns), but the
// records of concurrent callers share one transaction. Each token issued
// writes one, and on SQLite's single writer a transaction per record would
// serialize token issuance behind the disk.
//
// Concurrent callers rarely arrive together: 16 clients of the token endpoint
// on two cores finish their signatures one every half millisecond or so, so a
// loop that commits whatever is queued commits one record per transaction,
// and the transaction (begin, the WAL frames, commit: 60-90 µs of CPU on
// SQLite) costs far more than the record (under 10 µs). So once any of the
// last auditRecent batches held more than one record (callers are
// concurrent: a record arrived while another waited), the loop lingers
// before it commits, until the batch is as large as the largest of those
// (that many callers were waiting together; no more are expected) or until
// auditLinger has passed. A lone caller never lingers: its records never
// meet, so its batches hold one. Durability is unchanged: every caller still
// returns only after its own record's commit; lingering delays that answer by
// at most auditLinger.

// maxAuditBatch bounds the records one transaction commits.
const maxAuditBatch = 256

// auditLinger bounds how long the loop waits for more records before it
// commits a batch, when callers are concurrent.
const auditLinger = 2 * time.Millisecond

// auditRecent is how many recent batch sizes the loop remembers for its
// early stop: after concurrency falls, lingering waits out auditLinger for
// at most that many batches before the remembered size falls too.
const auditRecent = 16

type auditRequest struct {
	rec  store.AuditRecord
	done chan error
}

// auditWriter is the group-commit loop, started on first use.
type auditWriter struct {
	once    sync.Once
	stop    sync.Once
	queue   chan auditRequest
	closing chan struct{}
	stopped chan struct{}
}

// errStoreClosed is returned to audit writers after Close.
var errStoreClosed = errors.New("store closed")

func (db *DB) startAudit() {
	db.audit.once.Do(func() {
		db.audit.queue = make(chan auditRequest, maxAuditBatch)
		db.audit.closing = make(chan struct{})
		db.audit.stopped = make(chan struct{})
		go db.auditLoop()
	})
}

// stopAudit ends the loop after it has committed what it holds.
func (db *DB) stopAudit() {
	db.audit.stop.Do(func() {
		db.audit.once.Do(func() { // never started: later appends fail at once
			db.audit.closing = make(chan struct{})
			db.audit.stopped = make(chan struct{})
			close(db.audit.stopped)
		})
		close(db.audit.closing)
		<-db.audit.stopped
	})
}

func (db *DB) auditLoop() {
	defer close(db.audit.stopped)
	var sizes batchSizes
	for {
		var first auditRequest
		select {
		case first = <-db.audit.queue:
		case <-db.audit.closing:
			// Fail whatever raced in after the last batch.
			for {
				select {
				case r := <-db.audit.queue:
					r.done <- errStoreClosed
				default:
					return
				}
			}
		}
		batch := []auditRequest{first}
	drain:
		for len(batch) < maxAuditBatch {
			select {
			case r := <-db.audit.queue:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		if want := sizes.largest(); want > 1 {
			batch = db.linger(batch, want)
		}
		sizes.add(len(batch))
		err := db.insertAudit(batch)
		for _, r := range batch {
			r.done <- err
		}
	}
}

// linger adds to batch the records that arrive within auditLinger, until it
// holds want of them (or maxAuditBatch) or the store closes.
func (db *DB) linger(batch []auditRequest, want int) []auditRequest {
	want = min(want, maxAuditBatch)
	if len(batch) >= want {
		return batch
	}
	t := time.NewTimer(auditLinger)
	defer t.Stop()
	for len(batch) < want {
		select {
		case r := <-db.audit.queue:
			batch = append(batch, r)
		case <-t.C:
			return batch
		case <-db.audit.closing:
			return batch
		}
	}
	return batch
}

func (db *DB) insertAudit(batch []auditRequest) error {
	return db.tx(context.Background(), func(tx *sql.Tx) error {
		for _, r := range batch {
			fields, err := json.Marshal(r.rec.Fields)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO audit (at, kind, actor, subject, fields) VALUES ($1, $2, $3, $4, $5)`,
				unixNano(r.rec.Time), r.rec.Kind, r.rec.Actor, r.rec.Subject, fields); err != nil {
				return err
			}
		}
		return nil
	})
}

// AuditAppend implements store.AuditStore. It returns once the record is
// committed, or with ctx's error (the record may still be committed then).
func (db *DB) AuditAppend(ctx context.Context, r store.AuditRecord) error {
	if r.Time.IsZero() {
		r.Time = db.now()
	}
	db.startAudit()
	req := auditRequest{rec: r, done: make(chan error, 1)}
	select {
	case db.audit.queue <- req:
	case <-db.audit.closing:
		return errStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-db.audit.stopped:
		// The loop ended: it answered this request before stopping, or the
		// request raced past its last drain and was never written.
		select {
		case err := <-req.done:
			return err
		default:
			return errStoreClosed
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batchSizes remembers the sizes of the audit loop's last auditRecent
// batches. Only the loop's goroutine uses it.
type batchSizes struct {
	ring [auditRecent]int
	next int
}

func (b *batchSizes) add(n int) {
	b.ring[b.next] = n
	b.next = (b.next + 1) % auditRecent
}

// largest is the largest recent batch.
func (b *batchSizes) largest() int {
	m := 0
	for _, n := range b.ring {
		m = max(m, n)
	}
	return m
}
