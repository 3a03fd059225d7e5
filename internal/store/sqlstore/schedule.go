package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

const scheduleCols = `account_key, schedule_key, schedule_id, state, wake_at, spec, version, created_at, updated_at`

func scanSchedule(row interface{ Scan(...any) error }) (store.ScheduleRecord, error) {
	var (
		r                      store.ScheduleRecord
		wake, created, updated int64
	)
	if err := row.Scan(&r.AccountKey, &r.Key, &r.ID, &r.State, &wake, &r.Spec, &r.Version, &created, &updated); err != nil {
		return r, err
	}
	r.WakeAt, r.CreatedAt, r.UpdatedAt = fromUnixNano(wake), fromUnixNano(created), fromUnixNano(updated)
	return r, nil
}

// ScheduleCreate implements store.ScheduleStore.
func (db *DB) ScheduleCreate(ctx context.Context, r store.ScheduleRecord) (store.ScheduleRecord, error) {
	if r.AccountKey == "" || r.ID == "" {
		return r, cobalt.Errorf(cobalt.EInvalid, "a job schedule needs an account and an ID")
	}
	r.AccountKey, r.Key = strings.ToLower(r.AccountKey), strings.ToLower(r.ID)
	if r.Spec == nil {
		r.Spec = []byte("{}")
	}
	now := db.now()
	r.CreatedAt, r.UpdatedAt, r.Version = now, now, 1
	_, err := db.w.ExecContext(ctx, `INSERT INTO job_schedules (`+scheduleCols+`) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)`,
		r.AccountKey, r.Key, r.ID, r.State, unixNano(r.WakeAt), r.Spec, unixNano(now))
	if err != nil {
		return r, db.conflictOr(err, "a job schedule with that ID exists")
	}
	return r, nil
}

// ScheduleGet implements store.ScheduleStore.
func (db *DB) ScheduleGet(ctx context.Context, accountKey, id string) (store.ScheduleRecord, error) {
	r, err := scanSchedule(db.r.QueryRowContext(ctx, `SELECT `+scheduleCols+` FROM job_schedules WHERE account_key = $1 AND schedule_key = $2`,
		strings.ToLower(accountKey), strings.ToLower(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("job schedule")
	}
	return r, err
}

// ScheduleUpdate implements store.ScheduleStore.
func (db *DB) ScheduleUpdate(ctx context.Context, accountKey, id string, fn func(*store.ScheduleRecord) error) (store.ScheduleRecord, error) {
	ak, sk := strings.ToLower(accountKey), strings.ToLower(id)
	var out store.ScheduleRecord
	err := db.tx(ctx, func(tx *sql.Tx) error {
		r, err := scanSchedule(tx.QueryRowContext(ctx, `SELECT `+scheduleCols+` FROM job_schedules WHERE account_key = $1 AND schedule_key = $2`+db.d.ForUpdate, ak, sk))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("job schedule")
		}
		if err != nil {
			return err
		}
		old := r
		if err := fn(&r); err != nil {
			return err
		}
		r.AccountKey, r.Key, r.ID, r.CreatedAt = old.AccountKey, old.Key, old.ID, old.CreatedAt
		if r.Spec == nil {
			r.Spec = []byte("{}")
		}
		r.Version, r.UpdatedAt = old.Version+1, db.now()
		res, err := tx.ExecContext(ctx, `UPDATE job_schedules SET state = $1, wake_at = $2, spec = $3, version = $4, updated_at = $5
			WHERE account_key = $6 AND schedule_key = $7 AND version = $8`,
			r.State, unixNano(r.WakeAt), r.Spec, r.Version, unixNano(r.UpdatedAt), ak, sk, old.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return casLost("job schedule")
		}
		out = r
		return nil
	})
	return out, err
}

// ScheduleDelete implements store.ScheduleStore.
func (db *DB) ScheduleDelete(ctx context.Context, accountKey, id string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM job_schedules WHERE account_key = $1 AND schedule_key = $2`,
		strings.ToLower(accountKey), strings.ToLower(id))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("job schedule")
	}
	return nil
}

// ScheduleList implements store.ScheduleStore.
func (db *DB) ScheduleList(ctx context.Context, p store.ScheduleListParams) ([]store.ScheduleRecord, string, error) {
	after, err := decodeToken(p.Page.Token)
	if err != nil {
		return nil, "", err
	}
	limit := limitOf(p.Page.Limit)
	var (
		args  []any
		where []string
	)
	if p.AccountKey != "" {
		args = []any{strings.ToLower(p.AccountKey), after}
		where = []string{"account_key = $1", "schedule_key > $2"}
	} else {
		afterAcct, afterKey, _ := strings.Cut(after, "\x00")
		args = []any{afterAcct, afterKey}
		where = []string{"(account_key > $1 OR (account_key = $1 AND schedule_key > $2))"}
	}
	where, args = jobInList(where, args, "state", p.States)
	args = append(args, limit+1)
	rows, err := db.r.QueryContext(ctx, `SELECT `+scheduleCols+` FROM job_schedules WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY account_key, schedule_key LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, "", err
	}
	return collectPage(rows, limit, scanSchedule, func(last store.ScheduleRecord) string {
		if p.AccountKey != "" {
			return encodeToken(last.Key)
		}
		return encodeToken(last.AccountKey + "\x00" + last.Key)
	})
}

// ScheduleDue implements store.ScheduleStore.
func (db *DB) ScheduleDue(ctx context.Context, t time.Time, limit int) ([]store.ScheduleRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+scheduleCols+` FROM job_schedules
		WHERE state = 'active' AND wake_at <> 0 AND wake_at <= $1 ORDER BY wake_at LIMIT $2`, unixNano(t), limitOf(limit))
	if err != nil {
		return nil, err
	}
	out, _, err := collectPage(rows, limitOf(limit), scanSchedule, func(store.ScheduleRecord) string { return "" })
	return out, err
}
