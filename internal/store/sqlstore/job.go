package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

const jobCols = `account_key, job_key, job_id, pool_key, state, priority, dispatch, spec, version, created_at, updated_at`

func scanJob(row interface{ Scan(...any) error }) (store.JobRecord, error) {
	var (
		j                store.JobRecord
		dispatch         int64
		created, updated int64
	)
	if err := row.Scan(&j.AccountKey, &j.Key, &j.ID, &j.PoolKey, &j.State, &j.Priority, &dispatch,
		&j.Spec, &j.Version, &created, &updated); err != nil {
		return j, err
	}
	j.Dispatch = dispatch != 0
	j.CreatedAt, j.UpdatedAt = fromUnixNano(created), fromUnixNano(updated)
	return j, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// JobCreate implements store.JobStore.
func (db *DB) JobCreate(ctx context.Context, j store.JobRecord) (store.JobRecord, error) {
	if j.AccountKey == "" || j.ID == "" {
		return j, cobalt.Errorf(cobalt.EInvalid, "a job needs an account and an ID")
	}
	j.AccountKey, j.Key, j.PoolKey = strings.ToLower(j.AccountKey), strings.ToLower(j.ID), strings.ToLower(j.PoolKey)
	if j.Spec == nil {
		j.Spec = []byte("{}")
	}
	now := db.now()
	j.CreatedAt, j.UpdatedAt, j.Version = now, now, 1
	_, err := db.w.ExecContext(ctx, `INSERT INTO jobs (`+jobCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)`,
		j.AccountKey, j.Key, j.ID, j.PoolKey, j.State, j.Priority, boolInt(j.Dispatch), j.Spec, unixNano(now))
	if err != nil {
		return j, db.conflictOr(err, "a job with that ID exists")
	}
	return j, nil
}

// JobGet implements store.JobStore.
func (db *DB) JobGet(ctx context.Context, accountKey, jobID string) (store.JobRecord, error) {
	j, err := scanJob(db.r.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE account_key = $1 AND job_key = $2`,
		strings.ToLower(accountKey), strings.ToLower(jobID)))
	if errors.Is(err, sql.ErrNoRows) {
		return j, notFound("job")
	}
	return j, err
}

// JobUpdate implements store.JobStore.
func (db *DB) JobUpdate(ctx context.Context, accountKey, jobID string, fn func(*store.JobRecord) error) (store.JobRecord, error) {
	ak, jk := strings.ToLower(accountKey), strings.ToLower(jobID)
	var out store.JobRecord
	err := db.tx(ctx, func(tx *sql.Tx) error {
		j, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE account_key = $1 AND job_key = $2`+db.d.ForUpdate, ak, jk))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("job")
		}
		if err != nil {
			return err
		}
		old := j
		if err := fn(&j); err != nil {
			return err
		}
		if !strings.EqualFold(j.ID, old.ID) {
			j.ID = old.ID
		}
		j.AccountKey, j.Key, j.CreatedAt = old.AccountKey, old.Key, old.CreatedAt
		j.PoolKey = strings.ToLower(j.PoolKey)
		if j.Spec == nil {
			j.Spec = []byte("{}")
		}
		j.Version, j.UpdatedAt = old.Version+1, db.now()
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET job_id = $1, pool_key = $2, state = $3, priority = $4, dispatch = $5,
			spec = $6, version = $7, updated_at = $8 WHERE account_key = $9 AND job_key = $10 AND version = $11`,
			j.ID, j.PoolKey, j.State, j.Priority, boolInt(j.Dispatch), j.Spec, j.Version, unixNano(j.UpdatedAt), ak, jk, old.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return casLost("job")
		}
		if j.PoolKey != old.PoolKey || j.Priority != old.Priority || j.Dispatch != old.Dispatch {
			if _, err := tx.ExecContext(ctx, `UPDATE tasks SET pool_key = $1, priority = $2, dispatch = $3
				WHERE account_key = $4 AND job_key = $5`, j.PoolKey, j.Priority, boolInt(j.Dispatch), ak, jk); err != nil {
				return err
			}
		}
		out = j
		return nil
	})
	return out, err
}

// JobDelete implements store.JobStore.
func (db *DB) JobDelete(ctx context.Context, accountKey, jobID string) error {
	ak, jk := strings.ToLower(accountKey), strings.ToLower(jobID)
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE account_key = $1 AND job_key = $2`, ak, jk)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("job")
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM tasks WHERE account_key = $1 AND job_key = $2`, ak, jk)
		return err
	})
}

// jobInList appends "col IN ($n, ...)" for vals to where, adding the args.
func jobInList(where []string, args []any, col string, vals []string) ([]string, []any) {
	if len(vals) == 0 {
		return where, args
	}
	ph := make([]string, len(vals))
	for i, v := range vals {
		args = append(args, v)
		ph[i] = fmt.Sprintf("$%d", len(args))
	}
	return append(where, col+" IN ("+strings.Join(ph, ", ")+")"), args
}

// JobList implements store.JobStore.
func (db *DB) JobList(ctx context.Context, p store.JobListParams) ([]store.JobRecord, string, error) {
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
		where = []string{"account_key = $1", "job_key > $2"}
	} else {
		afterAcct, afterJob, _ := strings.Cut(after, "\x00")
		args = []any{afterAcct, afterJob}
		where = []string{"(account_key > $1 OR (account_key = $1 AND job_key > $2))"}
	}
	where, args = jobInList(where, args, "state", p.States)
	if p.IDPrefix != "" {
		pre := strings.ToLower(p.IDPrefix)
		args = append(args, len(pre), pre)
		where = append(where, fmt.Sprintf("substr(job_key, 1, $%d) = $%d", len(args)-1, len(args)))
	}
	args = append(args, limit+1)
	rows, err := db.r.QueryContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY account_key, job_key LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, "", err
	}
	return collectPage(rows, limit, scanJob, func(last store.JobRecord) (next string) {
		if p.AccountKey != "" {
			next = encodeToken(last.Key)
		} else {
			next = encodeToken(last.AccountKey + "\x00" + last.Key)
		}
		return next
	})
}

const taskCols = `seq, account_key, job_key, task_key, task_id, pool_key, priority, state, state_at, required_slots, result,
	retry_count, requeue_count, last_requeue_at, lease_id, node_id, lease_expiry, retain_until, spec, exec, version, created_at, updated_at, waiting, instances`

func scanTask(row interface{ Scan(...any) error }) (store.TaskRecord, error) {
	var (
		t                                                    store.TaskRecord
		stateAt, requeueAt, expiry, retain, created, updated int64
		waiting                                              int64
	)
	if err := row.Scan(&t.Seq, &t.AccountKey, &t.JobKey, &t.Key, &t.ID, &t.PoolKey, &t.Priority, &t.State, &stateAt,
		&t.RequiredSlots, &t.Result, &t.RetryCount, &t.RequeueCount, &requeueAt, &t.LeaseID, &t.NodeID, &expiry, &retain,
		&t.Spec, &t.Exec, &t.Version, &created, &updated, &waiting, &t.Instances); err != nil {
		return t, err
	}
	t.StateAt, t.LastRequeueAt, t.LeaseExpiry, t.RetainUntil = fromUnixNano(stateAt), fromUnixNano(requeueAt), fromUnixNano(expiry), fromUnixNano(retain)
	t.CreatedAt, t.UpdatedAt = fromUnixNano(created), fromUnixNano(updated)
	t.Waiting = waiting != 0
	return t, nil
}

// TaskAdd implements store.JobStore.
func (db *DB) TaskAdd(ctx context.Context, accountKey, jobID string, tasks []store.TaskRecord) ([]store.TaskRecord, []error, error) {
	ak, jk := strings.ToLower(accountKey), strings.ToLower(jobID)
	out := make([]store.TaskRecord, len(tasks))
	errs := make([]error, len(tasks))
	err := db.tx(ctx, func(tx *sql.Tx) error {
		// Lock the job row so that a concurrent delete or state change orders with this add.
		j, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE account_key = $1 AND job_key = $2`+db.d.ForUpdate, ak, jk))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("job")
		}
		if err != nil {
			return err
		}
		now := db.now()
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO tasks (account_key, job_key, task_key, task_id, pool_key, priority, dispatch,
			state, state_at, required_slots, result, retry_count, requeue_count, last_requeue_at, lease_id, node_id, lease_expiry,
			retain_until, spec, exec, version, created_at, updated_at, waiting, instances)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, 1, $9, $9, $21, $22)
			ON CONFLICT DO NOTHING RETURNING seq`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, t := range tasks {
			errs[i] = nil
			if t.ID == "" {
				errs[i] = cobalt.Errorf(cobalt.EInvalid, "a task needs an ID")
				continue
			}
			t.AccountKey, t.JobKey, t.Key = ak, jk, strings.ToLower(t.ID)
			t.PoolKey, t.Priority = j.PoolKey, j.Priority
			if t.Spec == nil {
				t.Spec = []byte("{}")
			}
			if t.Exec == nil {
				t.Exec = []byte("{}")
			}
			if t.RequiredSlots <= 0 {
				t.RequiredSlots = 1
			}
			if t.Instances <= 0 {
				t.Instances = 1
			}
			t.StateAt, t.CreatedAt, t.UpdatedAt, t.Version = now, now, now, 1
			err := stmt.QueryRowContext(ctx, t.AccountKey, t.JobKey, t.Key, t.ID, t.PoolKey, t.Priority, boolInt(j.Dispatch),
				t.State, unixNano(now), t.RequiredSlots, t.Result, t.RetryCount, t.RequeueCount, unixNano(t.LastRequeueAt),
				t.LeaseID, t.NodeID, unixNano(t.LeaseExpiry), unixNano(t.RetainUntil), t.Spec, t.Exec, boolInt(t.Waiting), t.Instances).Scan(&t.Seq)
			if errors.Is(err, sql.ErrNoRows) {
				errs[i] = cobalt.Errorf(cobalt.EConflict, "the task %s exists", t.ID)
				continue
			}
			if err != nil {
				return err
			}
			out[i] = t
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, errs, nil
}

// TaskGet implements store.JobStore.
func (db *DB) TaskGet(ctx context.Context, accountKey, jobID, taskID string) (store.TaskRecord, error) {
	t, err := scanTask(db.r.QueryRowContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE account_key = $1 AND job_key = $2 AND task_key = $3`,
		strings.ToLower(accountKey), strings.ToLower(jobID), strings.ToLower(taskID)))
	if errors.Is(err, sql.ErrNoRows) {
		return t, notFound("task")
	}
	return t, err
}

// updateTask applies fn to the task the query selects, inside tx.
func (db *DB) updateTask(ctx context.Context, tx *sql.Tx, query string, args []any, fn func(*store.TaskRecord) error) (store.TaskRecord, error) {
	t, err := scanTask(tx.QueryRowContext(ctx, query+db.d.ForUpdate, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return t, notFound("task")
	}
	if err != nil {
		return t, err
	}
	old := t
	if err := fn(&t); err != nil {
		return t, err
	}
	if !strings.EqualFold(t.ID, old.ID) {
		t.ID = old.ID
	}
	t.Seq, t.AccountKey, t.JobKey, t.Key, t.PoolKey, t.Priority, t.CreatedAt, t.Instances =
		old.Seq, old.AccountKey, old.JobKey, old.Key, old.PoolKey, old.Priority, old.CreatedAt, old.Instances
	if t.RequiredSlots <= 0 {
		t.RequiredSlots = 1
	}
	if t.Spec == nil {
		t.Spec = []byte("{}")
	}
	if t.Exec == nil {
		t.Exec = []byte("{}")
	}
	t.Version, t.UpdatedAt = old.Version+1, db.now()
	if t.State != old.State {
		t.StateAt = t.UpdatedAt
	}
	q, qargs := taskUpdate(&old, &t)
	res, err := tx.ExecContext(ctx, q, qargs...)
	if err != nil {
		return t, db.conflictOr(err, "the lease ID is in use")
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return t, casLost("task")
	}
	return t, nil
}

// taskUpdate builds the UPDATE that writes t over old under
// compare-and-swap: it sets only the columns whose value changed (and
// version and updated_at). SQLite rewrites every index on a column the SET
// names, changed or not, and the tasks table has nine: a completion that
// named all seventeen columns cost four times one that names its own.
func taskUpdate(old, t *store.TaskRecord) (string, []any) {
	var (
		q    strings.Builder
		args []any
	)
	q.WriteString("UPDATE tasks SET ")
	set := func(col string, changed bool, v any) {
		if !changed {
			return
		}
		args = append(args, v)
		fmt.Fprintf(&q, "%s = $%d, ", col, len(args))
	}
	set("task_id", t.ID != old.ID, t.ID)
	set("state", t.State != old.State, t.State)
	set("state_at", unixNano(t.StateAt) != unixNano(old.StateAt), unixNano(t.StateAt))
	set("required_slots", t.RequiredSlots != old.RequiredSlots, t.RequiredSlots)
	set("result", t.Result != old.Result, t.Result)
	set("retry_count", t.RetryCount != old.RetryCount, t.RetryCount)
	set("requeue_count", t.RequeueCount != old.RequeueCount, t.RequeueCount)
	set("last_requeue_at", unixNano(t.LastRequeueAt) != unixNano(old.LastRequeueAt), unixNano(t.LastRequeueAt))
	set("lease_id", t.LeaseID != old.LeaseID, t.LeaseID)
	set("node_id", t.NodeID != old.NodeID, t.NodeID)
	set("lease_expiry", unixNano(t.LeaseExpiry) != unixNano(old.LeaseExpiry), unixNano(t.LeaseExpiry))
	set("retain_until", unixNano(t.RetainUntil) != unixNano(old.RetainUntil), unixNano(t.RetainUntil))
	set("spec", !bytes.Equal(t.Spec, old.Spec), t.Spec)
	set("exec", !bytes.Equal(t.Exec, old.Exec), t.Exec)
	set("waiting", t.Waiting != old.Waiting, boolInt(t.Waiting))
	set("version", true, t.Version)
	args = append(args, unixNano(t.UpdatedAt), t.Seq, old.Version)
	fmt.Fprintf(&q, "updated_at = $%d WHERE seq = $%d AND version = $%d", len(args)-2, len(args)-1, len(args))
	return q.String(), args
}

// TaskUpdate implements store.JobStore.
func (db *DB) TaskUpdate(ctx context.Context, accountKey, jobID, taskID string, fn func(*store.TaskRecord) error) (store.TaskRecord, error) {
	var out store.TaskRecord
	err := db.tx(ctx, func(tx *sql.Tx) error {
		t, err := db.updateTask(ctx, tx, `SELECT `+taskCols+` FROM tasks WHERE account_key = $1 AND job_key = $2 AND task_key = $3`,
			[]any{strings.ToLower(accountKey), strings.ToLower(jobID), strings.ToLower(taskID)}, fn)
		out = t
		return err
	})
	return out, err
}

// The lease and node lookups repeat the partial indexes' conditions
// (lease_id <> '', node_id <> ''): SQLite uses a partial index only when the
// query's WHERE names its condition, and without them every lookup scans the
// whole task table.

// TaskUpdateByLease implements store.JobStore.
func (db *DB) TaskUpdateByLease(ctx context.Context, leaseID string, fn func(*store.TaskRecord) error) (store.TaskRecord, error) {
	if leaseID == "" {
		return store.TaskRecord{}, notFound("lease")
	}
	var out store.TaskRecord
	err := db.tx(ctx, func(tx *sql.Tx) error {
		t, err := db.updateLeased(ctx, tx, leaseID, fn)
		out = t
		return err
	})
	return out, err
}

// updateLeased applies fn inside tx to the task that holds leaseID (not
// empty), as updateTask does.
func (db *DB) updateLeased(ctx context.Context, tx *sql.Tx, leaseID string, fn func(*store.TaskRecord) error) (store.TaskRecord, error) {
	return db.updateTask(ctx, tx, `SELECT `+taskCols+` FROM tasks WHERE lease_id = $1 AND lease_id <> ''`, []any{leaseID}, fn)
}

// TaskDelete implements store.JobStore.
func (db *DB) TaskDelete(ctx context.Context, accountKey, jobID, taskID string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM tasks WHERE account_key = $1 AND job_key = $2 AND task_key = $3`,
		strings.ToLower(accountKey), strings.ToLower(jobID), strings.ToLower(taskID))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("task")
	}
	return nil
}

// TaskList implements store.JobStore.
func (db *DB) TaskList(ctx context.Context, p store.TaskListParams) ([]store.TaskRecord, string, error) {
	tok, err := decodeToken(p.Page.Token)
	if err != nil {
		return nil, "", err
	}
	afterJob, afterTask, _ := strings.Cut(tok, "\x00")
	limit := limitOf(p.Page.Limit)
	var args []any
	where := []string{"1 = 1"}
	if p.AccountKey != "" {
		args = append(args, strings.ToLower(p.AccountKey))
		if p.Leased && p.JobKey == "" {
			// Leased tasks are few: the expression keeps SQLite from
			// walking every task of the account in tasks_key order, which
			// it prefers for the ORDER BY, instead of the tasks_lease index.
			where = append(where, "account_key || '' = $1")
		} else {
			where = append(where, "account_key = $1")
		}
	}
	if p.JobKey != "" {
		args = append(args, strings.ToLower(p.JobKey), afterTask)
		where = append(where, fmt.Sprintf("job_key = $%d AND task_key > $%d", len(args)-1, len(args)))
	} else if tok != "" {
		args = append(args, afterJob, afterTask)
		where = append(where, fmt.Sprintf("(job_key > $%d OR (job_key = $%d AND task_key > $%d))", len(args)-1, len(args)-1, len(args)))
	}
	where, args = jobInList(where, args, "state", p.States)
	switch {
	case p.NodeID != "" && p.Leased:
		// tasks_node holds every task the node ever ran; tasks_lease only
		// those in flight. The expression leaves tasks_node out.
		args = append(args, p.NodeID)
		where = append(where, fmt.Sprintf("node_id || '' = $%d", len(args)))
	case p.NodeID != "":
		args = append(args, p.NodeID)
		where = append(where, fmt.Sprintf("node_id = $%d AND node_id <> ''", len(args)))
	}
	if p.Leased {
		// Names the partial index's condition, and a range on it.
		where = append(where, "lease_id <> '' AND lease_id > ''")
	}
	if p.Waiting {
		// Names the partial index's condition, as the lookups below do.
		where = append(where, "waiting = 1")
	}
	if !p.LeaseExpiredBefore.IsZero() {
		args = append(args, unixNano(p.LeaseExpiredBefore))
		where = append(where, fmt.Sprintf("lease_expiry <> 0 AND lease_expiry < $%d", len(args)))
	}
	if !p.RetainedBefore.IsZero() {
		args = append(args, unixNano(p.RetainedBefore))
		where = append(where, fmt.Sprintf("retain_until <> 0 AND retain_until < $%d AND state = 'completed'", len(args)))
	}
	args = append(args, limit+1)
	rows, err := db.r.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY job_key, task_key LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, "", err
	}
	return collectPage(rows, limit, scanTask, func(last store.TaskRecord) string { return encodeToken(last.JobKey + "\x00" + last.Key) })
}

// TaskCounts implements store.JobStore.
func (db *DB) TaskCounts(ctx context.Context, accountKey, jobID string) ([]store.TaskStateCount, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT state, result, COUNT(*), COALESCE(SUM(required_slots), 0) FROM tasks
		WHERE account_key = $1 AND job_key = $2 GROUP BY state, result ORDER BY state, result`,
		strings.ToLower(accountKey), strings.ToLower(jobID))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.TaskStateCount
	for rows.Next() {
		var c store.TaskStateCount
		if err := rows.Scan(&c.State, &c.Result, &c.Count, &c.Slots); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// TaskAnyIncomplete implements store.JobStore.
func (db *DB) TaskAnyIncomplete(ctx context.Context, accountKey, jobID string) (bool, error) {
	var one int
	err := db.r.QueryRowContext(ctx, `SELECT 1 FROM tasks WHERE account_key = $1 AND job_key = $2
		AND state IN ('active', 'preparing', 'running') LIMIT 1`, strings.ToLower(accountKey), strings.ToLower(jobID)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// TaskClaim implements store.JobStore.
func (db *DB) TaskClaim(ctx context.Context, p store.ClaimParams, pick func([]store.TaskCandidate) []int) ([]store.TaskRecord, error) {
	claims := p.Limit > 0 && p.NodeID != "" && p.NewLeaseID != nil
	if !claims && len(p.Before) == 0 {
		return nil, nil
	}
	var out []store.TaskRecord
	rulings := make([]error, len(p.Before))
	err := db.tx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		for i, u := range p.Before {
			var err error
			if rulings[i], err = db.updateByLease(ctx, tx, u); err != nil {
				return err
			}
		}
		if !claims {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT seq, job_key, task_key, priority, required_slots, instances FROM tasks
			WHERE account_key = $1 AND pool_key = $2 AND state = 'active' AND dispatch = 1 AND waiting = 0
			ORDER BY priority DESC, seq LIMIT $3`+db.d.Compute.TaskClaimLock,
			strings.ToLower(p.AccountKey), strings.ToLower(p.PoolKey), p.Limit)
		if err != nil {
			return err
		}
		var cands []store.TaskCandidate
		for rows.Next() {
			var c store.TaskCandidate
			if err := rows.Scan(&c.Seq, &c.JobKey, &c.Key, &c.Priority, &c.RequiredSlots, &c.Instances); err != nil {
				rows.Close()
				return err
			}
			cands = append(cands, c)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if len(cands) == 0 {
			return nil
		}
		now := unixNano(db.now())
		seen := map[int]bool{}
		for _, i := range pick(cands) {
			if i < 0 || i >= len(cands) || seen[i] {
				continue
			}
			seen[i] = true
			c := cands[i]
			var expiry int64
			if p.LeaseExpiry != nil {
				expiry = unixNano(p.LeaseExpiry(c))
			}
			t, err := scanTask(tx.QueryRowContext(ctx, `UPDATE tasks SET state = $1, state_at = $2, lease_id = $3, node_id = $4,
				lease_expiry = $5, version = version + 1, updated_at = $2 WHERE seq = $6 AND state = 'active' AND waiting = 0 RETURNING `+taskCols,
				p.State, now, p.NewLeaseID(), p.NodeID, expiry, c.Seq))
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, u := range p.Before {
		u.Done, u.Err = true, rulings[i]
	}
	return out, nil
}

// updateByLease applies u inside tx and returns its ruling: nil (applied),
// ENotFound or u.Fn's error (the task unchanged). Any other error fails
// the transaction and is returned as the second result.
func (db *DB) updateByLease(ctx context.Context, tx *sql.Tx, u *store.LeaseUpdate) (ruling, err error) {
	if u.LeaseID == "" {
		return notFound("lease"), nil
	}
	var fnErr error
	_, err = db.updateLeased(ctx, tx, u.LeaseID, func(t *store.TaskRecord) error {
		fnErr = u.Fn(t)
		return fnErr
	})
	switch {
	case err == nil:
		return nil, nil
	case fnErr != nil && errors.Is(err, fnErr), cobalt.IsCode(err, cobalt.ENotFound) && fnErr == nil:
		return err, nil
	}
	return nil, err
}

// TaskLeasedToNodes implements store.JobStore. It names the
// tasks_node_leased partial index's condition.
func (db *DB) TaskLeasedToNodes(ctx context.Context, nodeIDs []string) ([]store.TaskRecord, error) {
	if len(nodeIDs) == 0 {
		return nil, nil
	}
	where, args := jobInList([]string{"lease_id <> ''", "state IN ('preparing', 'running')"}, nil, "node_id", nodeIDs)
	rows, err := db.r.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE `+strings.Join(where, " AND "), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.TaskRecord
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TaskQueued implements store.JobStore. It names the tasks_queue partial
// index's condition, so it reads at most one index entry.
func (db *DB) TaskQueued(ctx context.Context, accountKey, poolKey string) (bool, error) {
	var one int
	err := db.r.QueryRowContext(ctx, taskQueuedQuery, strings.ToLower(accountKey), strings.ToLower(poolKey)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

const taskQueuedQuery = `SELECT 1 FROM tasks WHERE account_key = $1 AND pool_key = $2 AND state = 'active' AND dispatch = 1 AND waiting = 0 LIMIT 1`

// TaskRequeueNode implements store.JobStore.
func (db *DB) TaskRequeueNode(ctx context.Context, nodeID string) ([]store.TaskRecord, error) {
	if nodeID == "" {
		return nil, nil
	}
	var out []store.TaskRecord
	err := db.tx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE node_id = $1 AND node_id <> '' AND state IN ('preparing', 'running')`+db.d.ForUpdate, nodeID)
		if err != nil {
			return err
		}
		for rows.Next() {
			t, err := scanTask(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, t)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		now := unixNano(db.now())
		for _, t := range out {
			if _, err := tx.ExecContext(ctx, `UPDATE tasks SET state = 'active', state_at = $1, lease_id = '', node_id = '',
				lease_expiry = 0, requeue_count = requeue_count + 1, last_requeue_at = $1, version = version + 1, updated_at = $1
				WHERE seq = $2`, now, t.Seq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// jobStoreCheck makes the compiler check that DB implements the job slice.
var _ store.JobStore = (*DB)(nil)
