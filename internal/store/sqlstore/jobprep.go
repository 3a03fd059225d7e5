package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/cobaltbatch/cobalt/internal/store"
)

const jobPrepCols = `account_key, job_key, node_id, pool_key, blocked, release_state, retain_until, info, version, created_at, updated_at`

func scanJobPrep(row interface{ Scan(...any) error }) (store.JobPrepRecord, error) {
	var (
		r                store.JobPrepRecord
		blocked          int64
		created, updated int64
		retain           int64
	)
	if err := row.Scan(&r.AccountKey, &r.JobKey, &r.NodeID, &r.PoolKey, &blocked, &r.ReleaseState, &retain, &r.Info, &r.Version, &created, &updated); err != nil {
		return r, err
	}
	r.Blocked, r.CreatedAt, r.UpdatedAt, r.RetainUntil = blocked != 0, fromUnixNano(created), fromUnixNano(updated), fromUnixNano(retain)
	return r, nil
}

// JobPrepUpdate implements store.JobPrepStore.
func (db *DB) JobPrepUpdate(ctx context.Context, accountKey, jobID, nodeID string, fn func(*store.JobPrepRecord) error) (store.JobPrepRecord, error) {
	ak, jk := strings.ToLower(accountKey), strings.ToLower(jobID)
	var out store.JobPrepRecord
	err := db.tx(ctx, func(tx *sql.Tx) error {
		r, err := scanJobPrep(tx.QueryRowContext(ctx, `SELECT `+jobPrepCols+` FROM job_prep WHERE account_key = $1 AND job_key = $2 AND node_id = $3`+db.d.ForUpdate,
			ak, jk, nodeID))
		if errors.Is(err, sql.ErrNoRows) {
			r = store.JobPrepRecord{AccountKey: ak, JobKey: jk, NodeID: nodeID}
		} else if err != nil {
			return err
		}
		old := r
		if err := fn(&r); err != nil {
			return err
		}
		r.AccountKey, r.JobKey, r.NodeID = ak, jk, nodeID
		if r.Info == nil {
			r.Info = []byte("{}")
		}
		now := db.now()
		r.Version, r.UpdatedAt = old.Version+1, now
		if old.Version == 0 {
			r.CreatedAt = now
			_, err := tx.ExecContext(ctx, `INSERT INTO job_prep (`+jobPrepCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)`,
				ak, jk, nodeID, r.PoolKey, boolInt(r.Blocked), r.ReleaseState, unixNano(r.RetainUntil), r.Info, unixNano(now))
			if err != nil {
				return db.conflictOr(err, "the job preparation record was created concurrently")
			}
			out = r
			return nil
		}
		r.CreatedAt = old.CreatedAt
		res, err := tx.ExecContext(ctx, `UPDATE job_prep SET pool_key = $1, blocked = $2, release_state = $3, info = $4, version = $5, updated_at = $6,
			retain_until = $7 WHERE account_key = $8 AND job_key = $9 AND node_id = $10 AND version = $11`,
			r.PoolKey, boolInt(r.Blocked), r.ReleaseState, r.Info, r.Version, unixNano(now), unixNano(r.RetainUntil), ak, jk, nodeID, old.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return casLost("job preparation record")
		}
		out = r
		return nil
	})
	return out, err
}

// JobPrepList implements store.JobPrepStore.
func (db *DB) JobPrepList(ctx context.Context, p store.JobPrepListParams) ([]store.JobPrepRecord, string, error) {
	after, err := decodeToken(p.Page.Token)
	if err != nil {
		return nil, "", err
	}
	afterAcct, rest, _ := strings.Cut(after, "\x00")
	afterJob, afterNode, _ := strings.Cut(rest, "\x00")
	limit := limitOf(p.Page.Limit)
	args := []any{afterAcct, afterJob, afterNode}
	where := []string{"(account_key > $1 OR (account_key = $1 AND (job_key > $2 OR (job_key = $2 AND node_id > $3))))"}
	eq := func(col, v string) {
		if v != "" {
			args = append(args, v)
			where = append(where, fmt.Sprintf("%s = $%d", col, len(args)))
		}
	}
	eq("account_key", strings.ToLower(p.AccountKey))
	eq("job_key", strings.ToLower(p.JobKey))
	eq("node_id", p.NodeID)
	eq("release_state", p.ReleaseState)
	if p.BlockedOnly {
		where = append(where, "blocked = 1")
	}
	if !p.RetainedBefore.IsZero() {
		args = append(args, unixNano(p.RetainedBefore))
		where = append(where, fmt.Sprintf("retain_until <> 0 AND retain_until < $%d", len(args)))
	}
	args = append(args, limit+1)
	rows, err := db.r.QueryContext(ctx, `SELECT `+jobPrepCols+` FROM job_prep WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY account_key, job_key, node_id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, "", err
	}
	return collectPage(rows, limit, scanJobPrep, func(last store.JobPrepRecord) string {
		return encodeToken(last.AccountKey + "\x00" + last.JobKey + "\x00" + last.NodeID)
	})
}

// JobPrepReleasesOf implements store.JobPrepStore (index job_prep_node).
func (db *DB) JobPrepReleasesOf(ctx context.Context, nodeIDs []string) ([]store.JobPrepRecord, error) {
	if len(nodeIDs) == 0 {
		return nil, nil
	}
	where, args := jobInList([]string{"release_state = 'pending'"}, nil, "node_id", nodeIDs)
	rows, err := db.r.QueryContext(ctx, `SELECT `+jobPrepCols+` FROM job_prep WHERE `+strings.Join(where, " AND "), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.JobPrepRecord
	for rows.Next() {
		r, err := scanJobPrep(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// JobPrepMarkRelease implements store.JobPrepStore.
func (db *DB) JobPrepMarkRelease(ctx context.Context, accountKey, jobID string) (int, error) {
	res, err := db.w.ExecContext(ctx, `UPDATE job_prep SET release_state = 'pending', version = version + 1, updated_at = $1
		WHERE account_key = $2 AND job_key = $3 AND release_state = ''`, unixNano(db.now()), strings.ToLower(accountKey), strings.ToLower(jobID))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// JobPrepDelete implements store.JobPrepStore.
func (db *DB) JobPrepDelete(ctx context.Context, accountKey, jobID, nodeID string) error {
	q := `DELETE FROM job_prep WHERE account_key = $1 AND job_key = $2`
	args := []any{strings.ToLower(accountKey), strings.ToLower(jobID)}
	if nodeID != "" {
		q += ` AND node_id = $3`
		args = append(args, nodeID)
	}
	_, err := db.w.ExecContext(ctx, q, args...)
	return err
}
