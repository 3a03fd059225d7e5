package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/cobaltbatch/cobalt/internal/store"
)

const poolCols = `account_key, pool_key, pool_id, state, allocation_state, body, version, created_at, updated_at`

func scanPool(row interface{ Scan(...any) error }) (store.PoolRecord, error) {
	var (
		p                store.PoolRecord
		created, updated int64
	)
	err := row.Scan(&p.AccountKey, &p.Key, &p.ID, &p.State, &p.AllocationState, &p.Body, &p.Version, &created, &updated)
	p.CreatedAt, p.UpdatedAt = fromUnixNano(created), fromUnixNano(updated)
	return p, err
}

// PoolCreate implements store.PoolStore.
func (db *DB) PoolCreate(ctx context.Context, p store.PoolRecord) (store.PoolRecord, error) {
	p.AccountKey = strings.ToLower(p.AccountKey)
	p.Key = strings.ToLower(p.ID)
	now := db.now()
	p.Version, p.CreatedAt, p.UpdatedAt = 1, now, now
	_, err := db.w.ExecContext(ctx, `INSERT INTO pools (`+poolCols+`) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)`,
		p.AccountKey, p.Key, p.ID, p.State, p.AllocationState, p.Body, unixNano(now))
	if err != nil {
		return p, db.conflictOr(err, "a pool with that ID exists")
	}
	return p, nil
}

const poolGetQuery = `SELECT ` + poolCols + ` FROM pools WHERE account_key = $1 AND pool_key = $2`

// PoolGet implements store.PoolStore.
func (db *DB) PoolGet(ctx context.Context, accountKey, poolID string) (store.PoolRecord, error) {
	p, err := scanPool(db.r.QueryRowContext(ctx, poolGetQuery, strings.ToLower(accountKey), strings.ToLower(poolID)))
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound("pool")
	}
	return p, err
}

// PoolUpdate implements store.PoolStore.
func (db *DB) PoolUpdate(ctx context.Context, accountKey, poolID string, fn func(*store.PoolRecord) error) (store.PoolRecord, error) {
	var out store.PoolRecord
	ak, pk := strings.ToLower(accountKey), strings.ToLower(poolID)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		p, err := scanPool(tx.QueryRowContext(ctx, `SELECT `+poolCols+` FROM pools WHERE account_key = $1 AND pool_key = $2`+db.d.ForUpdate, ak, pk))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("pool")
		}
		if err != nil {
			return err
		}
		old, created := p.Version, p.CreatedAt
		if err := fn(&p); err != nil {
			return err
		}
		if strings.ToLower(p.ID) != pk {
			p.ID = poolID
		}
		p.AccountKey, p.Key, p.CreatedAt = ak, pk, created
		p.Version, p.UpdatedAt = old+1, db.now()
		res, err := tx.ExecContext(ctx, `UPDATE pools SET pool_id = $1, state = $2, allocation_state = $3, body = $4, version = $5, updated_at = $6
			WHERE account_key = $7 AND pool_key = $8 AND version = $9`,
			p.ID, p.State, p.AllocationState, p.Body, p.Version, unixNano(p.UpdatedAt), ak, pk, old)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return casLost("pool")
		}
		out = p
		return nil
	})
	return out, err
}

// PoolDelete implements store.PoolStore.
func (db *DB) PoolDelete(ctx context.Context, accountKey, poolID string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM pools WHERE account_key = $1 AND pool_key = $2`,
		strings.ToLower(accountKey), strings.ToLower(poolID))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("pool")
	}
	return nil
}

// inList appends "AND col IN ($n, ...)" for vals to where, and their values to args.
func inList(where *strings.Builder, args *[]any, col string, vals []string) {
	if len(vals) == 0 {
		return
	}
	where.WriteString(" AND " + col + " IN (")
	for i, v := range vals {
		if i > 0 {
			where.WriteString(", ")
		}
		*args = append(*args, v)
		where.WriteString("$" + strconv.Itoa(len(*args)))
	}
	where.WriteString(")")
}

// PoolList implements store.PoolStore.
func (db *DB) PoolList(ctx context.Context, p store.PoolListParams) ([]store.PoolRecord, string, error) {
	after, err := decodeToken(p.Page.Token)
	if err != nil {
		return nil, "", err
	}
	limit := limitOf(p.Page.Limit)
	var (
		where strings.Builder
		args  []any
	)
	where.WriteString("WHERE 1 = 1")
	if p.AccountKey != "" {
		args = append(args, strings.ToLower(p.AccountKey))
		where.WriteString(" AND account_key = $" + strconv.Itoa(len(args)))
	}
	if after != "" {
		ak, pk, _ := strings.Cut(after, "\x00")
		args = append(args, ak, pk)
		n := len(args)
		where.WriteString(" AND (account_key > $" + strconv.Itoa(n-1) + " OR (account_key = $" + strconv.Itoa(n-1) + " AND pool_key > $" + strconv.Itoa(n) + "))")
	}
	inList(&where, &args, "state", p.States)
	inList(&where, &args, "allocation_state", p.AllocationStates)
	args = append(args, limit+1)
	rows, err := db.r.QueryContext(ctx, `SELECT `+poolCols+` FROM pools `+where.String()+
		` ORDER BY account_key, pool_key LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, "", err
	}
	return collectPage(rows, limit, scanPool, func(last store.PoolRecord) string { return encodeToken(last.AccountKey + "\x00" + last.Key) })
}
