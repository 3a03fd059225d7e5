package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sync"

	"github.com/cobaltbatch/cobalt/internal/store"
)

// Audit records are written with group commit: every AuditAppend waits until
// its record is committed (so none is lost once the call returns), but the
// records of concurrent callers share one transaction. Each token issued
// writes one, and on SQLite's single writer a transaction per record would
// serialize token issuance behind the disk.

// maxAuditBatch bounds the records one transaction commits.
const maxAuditBatch = 256

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
		err := db.insertAudit(batch)
		for _, r := range batch {
			r.done <- err
		}
	}
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
