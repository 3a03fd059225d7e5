package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt/internal/store"
)

const nodeCols = `node_id, account_key, pool_key, state, credential_hash, identities, start_task_info, body,
	heartbeat_at, lease_expiry, created_at, updated_at, version, host_id`

func scanNode(row interface{ Scan(...any) error }) (store.NodeRecord, error) {
	var (
		n                           store.NodeRecord
		hb, lease, created, updated int64
	)
	err := row.Scan(&n.ID, &n.AccountKey, &n.PoolKey, &n.State, &n.CredentialHash, &n.Identities, &n.StartTaskInfo, &n.Body,
		&hb, &lease, &created, &updated, &n.Version, &n.HostID)
	n.HeartbeatAt, n.LeaseExpiry = fromUnixNano(hb), fromUnixNano(lease)
	n.CreatedAt, n.UpdatedAt = fromUnixNano(created), fromUnixNano(updated)
	return n, err
}

func orEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

const nodeInsert = `INSERT INTO nodes (` + nodeCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, 1, $12)`

// newNodeRecord sets the fields a stored node gets at creation.
func (db *DB) newNodeRecord(n store.NodeRecord) store.NodeRecord {
	n.AccountKey, n.PoolKey = strings.ToLower(n.AccountKey), strings.ToLower(n.PoolKey)
	now := db.now()
	n.Version, n.CreatedAt, n.UpdatedAt = 1, now, now
	if n.Identities == nil {
		n.Identities = []byte("[]")
	}
	if n.Body == nil {
		n.Body = []byte("{}")
	}
	return n
}

func nodeInsertArgs(n store.NodeRecord) []any {
	return []any{n.ID, n.AccountKey, n.PoolKey, n.State, orEmpty(n.CredentialHash), n.Identities, n.StartTaskInfo, n.Body,
		unixNano(n.HeartbeatAt), unixNano(n.LeaseExpiry), unixNano(n.CreatedAt), n.HostID}
}

// NodeCreate implements store.NodeStore.
func (db *DB) NodeCreate(ctx context.Context, n store.NodeRecord) (store.NodeRecord, error) {
	n = db.newNodeRecord(n)
	if _, err := db.w.ExecContext(ctx, nodeInsert, nodeInsertArgs(n)...); err != nil {
		return n, db.conflictOr(err, "a node with that ID exists")
	}
	return n, nil
}

// NodeCreateMany implements store.NodeStore: one transaction, so one commit
// (one WAL flush on PostgreSQL) for the whole allocation.
func (db *DB) NodeCreateMany(ctx context.Context, ns []store.NodeRecord) ([]store.NodeRecord, error) {
	out := make([]store.NodeRecord, len(ns))
	for i, n := range ns {
		out[i] = db.newNodeRecord(n)
	}
	if len(out) == 0 {
		return out, nil
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, nodeInsert)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, n := range out {
			if _, err := st.ExecContext(ctx, nodeInsertArgs(n)...); err != nil {
				return db.conflictOr(err, "a node with that ID exists")
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// NodeTouch implements store.NodeStore.
func (db *DB) NodeTouch(ctx context.Context, nodeID string, version int64, heartbeatAt, leaseExpiry time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if p := db.d.Compute.NodeTouchPrelude; p != "" {
			if _, err := tx.ExecContext(ctx, p); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE nodes SET heartbeat_at = $1, lease_expiry = $2, updated_at = $3, version = $4
			WHERE node_id = $5 AND version = $6`,
			unixNano(heartbeatAt), unixNano(leaseExpiry), unixNano(db.now()), version+1, nodeID, version)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n == 1 {
		return version + 1, nil
	}
	if _, err := db.NodeGet(ctx, nodeID); err != nil {
		return 0, err
	}
	return 0, casLost("node")
}

const nodeGetQuery = `SELECT ` + nodeCols + ` FROM nodes WHERE node_id = $1`

// NodeGet implements store.NodeStore.
func (db *DB) NodeGet(ctx context.Context, nodeID string) (store.NodeRecord, error) {
	n, err := scanNode(db.r.QueryRowContext(ctx, nodeGetQuery, nodeID))
	if errors.Is(err, sql.ErrNoRows) {
		return n, notFound("node")
	}
	return n, err
}

// NodeUpdate implements store.NodeStore.
func (db *DB) NodeUpdate(ctx context.Context, nodeID string, fn func(*store.NodeRecord) error) (store.NodeRecord, error) {
	var out store.NodeRecord
	err := db.tx(ctx, func(tx *sql.Tx) error {
		n, err := scanNode(tx.QueryRowContext(ctx, `SELECT `+nodeCols+` FROM nodes WHERE node_id = $1`+db.d.ForUpdate, nodeID))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("node")
		}
		if err != nil {
			return err
		}
		old := n
		if err := fn(&n); err != nil {
			return err
		}
		n.ID, n.AccountKey, n.PoolKey, n.CreatedAt = old.ID, old.AccountKey, old.PoolKey, old.CreatedAt
		n.Version, n.UpdatedAt = old.Version+1, db.now()
		if n.Identities == nil {
			n.Identities = []byte("[]")
		}
		if n.Body == nil {
			n.Body = []byte("{}")
		}
		res, err := tx.ExecContext(ctx, `UPDATE nodes SET state = $1, credential_hash = $2, identities = $3, start_task_info = $4, body = $5,
			heartbeat_at = $6, lease_expiry = $7, updated_at = $8, version = $9, host_id = $12 WHERE node_id = $10 AND version = $11`,
			n.State, orEmpty(n.CredentialHash), n.Identities, n.StartTaskInfo, n.Body, unixNano(n.HeartbeatAt), unixNano(n.LeaseExpiry),
			unixNano(n.UpdatedAt), n.Version, nodeID, old.Version, n.HostID)
		if err != nil {
			return err
		}
		if c, _ := res.RowsAffected(); c != 1 {
			return casLost("node")
		}
		out = n
		return nil
	})
	return out, err
}

// NodeDelete implements store.NodeStore.
func (db *DB) NodeDelete(ctx context.Context, nodeID string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM nodes WHERE node_id = $1`, nodeID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("node")
	}
	return nil
}

// NodeList implements store.NodeStore.
func (db *DB) NodeList(ctx context.Context, p store.NodeListParams) ([]store.NodeRecord, string, error) {
	after, err := decodeToken(p.Page.Token)
	if err != nil {
		return nil, "", err
	}
	limit := limitOf(p.Page.Limit)
	var (
		where strings.Builder
		args  = []any{after}
	)
	where.WriteString("WHERE node_id > $1")
	if p.AccountKey != "" {
		args = append(args, strings.ToLower(p.AccountKey))
		where.WriteString(" AND account_key = $" + strconv.Itoa(len(args)))
	}
	if p.PoolKey != "" {
		args = append(args, strings.ToLower(p.PoolKey))
		where.WriteString(" AND pool_key = $" + strconv.Itoa(len(args)))
	}
	if p.HostID != "" {
		args = append(args, p.HostID)
		where.WriteString(" AND host_id = $" + strconv.Itoa(len(args)))
	}
	if !p.ExpiredBefore.IsZero() {
		args = append(args, unixNano(p.ExpiredBefore))
		where.WriteString(" AND lease_expiry > 0 AND lease_expiry < $" + strconv.Itoa(len(args)))
	}
	inList(&where, &args, "state", p.States)
	args = append(args, limit+1)
	rows, err := db.r.QueryContext(ctx, `SELECT `+nodeCols+` FROM nodes `+where.String()+
		` ORDER BY node_id LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, "", err
	}
	return collectPage(rows, limit, scanNode, func(last store.NodeRecord) string { return encodeToken(last.ID) })
}

// NodeCounts implements store.NodeStore.
func (db *DB) NodeCounts(ctx context.Context, accountKey, poolKey string) ([]store.NodeCount, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT account_key, pool_key, state, COUNT(*) FROM nodes
		WHERE ($1 = '' OR account_key = $1) AND ($2 = '' OR pool_key = $2)
		GROUP BY account_key, pool_key, state ORDER BY account_key, pool_key, state`,
		strings.ToLower(accountKey), strings.ToLower(poolKey))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.NodeCount
	for rows.Next() {
		var c store.NodeCount
		if err := rows.Scan(&c.AccountKey, &c.PoolKey, &c.State, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// NodeTouchMany implements store.NodeStore: one UPDATE ... FROM a VALUES
// list, in one transaction with the dialect's touch prelude.
func (db *DB) NodeTouchMany(ctx context.Context, ts []store.NodeTouch) ([]bool, error) {
	out := make([]bool, len(ts))
	if len(ts) == 0 {
		return out, nil
	}
	var (
		q    strings.Builder
		args = make([]any, 0, 4*len(ts)+1)
		at   = map[string]int{}
	)
	q.WriteString(`WITH v(id, ver, hb, exp) AS (VALUES `)
	for i, t := range ts {
		if _, dup := at[t.NodeID]; dup {
			return nil, errors.New("sqlstore: two touches of one node in a batch")
		}
		at[t.NodeID] = i
		if i > 0 {
			q.WriteString(", ")
		}
		n := len(args)
		q.WriteString("(CAST($" + strconv.Itoa(n+1) + " AS TEXT), CAST($" + strconv.Itoa(n+2) + " AS BIGINT), CAST($" +
			strconv.Itoa(n+3) + " AS BIGINT), CAST($" + strconv.Itoa(n+4) + " AS BIGINT))")
		args = append(args, t.NodeID, t.Version, unixNano(t.HeartbeatAt), unixNano(t.LeaseExpiry))
	}
	args = append(args, unixNano(db.now()))
	q.WriteString(`) UPDATE nodes SET heartbeat_at = v.hb, lease_expiry = v.exp, updated_at = $` + strconv.Itoa(len(args)) +
		`, version = nodes.version + 1 FROM v WHERE nodes.node_id = v.id AND nodes.version = v.ver RETURNING node_id`)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if p := db.d.Compute.NodeTouchPrelude; p != "" {
			if _, err := tx.ExecContext(ctx, p); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			if i, ok := at[id]; ok {
				out[i] = true
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
