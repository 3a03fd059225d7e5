package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/cobaltbatch/cobalt/internal/store"
)

const hostCols = `host_id, name, address, state, local, credential_hash, cores, memory_bytes, max_nodes,
	heartbeat_at, lease_expiry, created_at, updated_at, version`

func scanHost(row interface{ Scan(...any) error }) (store.HostRecord, error) {
	var (
		h                           store.HostRecord
		local                       int64
		hb, lease, created, updated int64
	)
	err := row.Scan(&h.ID, &h.Name, &h.Address, &h.State, &local, &h.CredentialHash, &h.Cores, &h.MemoryBytes, &h.MaxNodes,
		&hb, &lease, &created, &updated, &h.Version)
	h.Local = local != 0
	h.HeartbeatAt, h.LeaseExpiry = fromUnixNano(hb), fromUnixNano(lease)
	h.CreatedAt, h.UpdatedAt = fromUnixNano(created), fromUnixNano(updated)
	return h, err
}

// HostCreate implements store.HostStore.
func (db *DB) HostCreate(ctx context.Context, h store.HostRecord) (store.HostRecord, error) {
	now := db.now()
	h.Version, h.CreatedAt, h.UpdatedAt = 1, now, now
	_, err := db.w.ExecContext(ctx, `INSERT INTO hosts (`+hostCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, 1)`,
		h.ID, h.Name, h.Address, h.State, boolInt(h.Local), orEmpty(h.CredentialHash), h.Cores, h.MemoryBytes, h.MaxNodes,
		unixNano(h.HeartbeatAt), unixNano(h.LeaseExpiry), unixNano(now))
	if err != nil {
		return h, db.conflictOr(err, "a host with that ID exists")
	}
	return h, nil
}

// HostGet implements store.HostStore.
func (db *DB) HostGet(ctx context.Context, hostID string) (store.HostRecord, error) {
	h, err := scanHost(db.r.QueryRowContext(ctx, `SELECT `+hostCols+` FROM hosts WHERE host_id = $1`, hostID))
	if errors.Is(err, sql.ErrNoRows) {
		return h, notFound("host")
	}
	return h, err
}

// HostUpdate implements store.HostStore.
func (db *DB) HostUpdate(ctx context.Context, hostID string, fn func(*store.HostRecord) error) (store.HostRecord, error) {
	var out store.HostRecord
	err := db.tx(ctx, func(tx *sql.Tx) error {
		h, err := scanHost(tx.QueryRowContext(ctx, `SELECT `+hostCols+` FROM hosts WHERE host_id = $1`+db.d.ForUpdate, hostID))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("host")
		}
		if err != nil {
			return err
		}
		old := h
		if err := fn(&h); err != nil {
			return err
		}
		h.ID, h.Local, h.CreatedAt = old.ID, old.Local, old.CreatedAt
		h.Version, h.UpdatedAt = old.Version+1, db.now()
		res, err := tx.ExecContext(ctx, `UPDATE hosts SET name = $1, address = $2, state = $3, credential_hash = $4, cores = $5,
			memory_bytes = $6, max_nodes = $7, heartbeat_at = $8, lease_expiry = $9, updated_at = $10, version = $11
			WHERE host_id = $12 AND version = $13`,
			h.Name, h.Address, h.State, orEmpty(h.CredentialHash), h.Cores, h.MemoryBytes, h.MaxNodes,
			unixNano(h.HeartbeatAt), unixNano(h.LeaseExpiry), unixNano(h.UpdatedAt), h.Version, hostID, old.Version)
		if err != nil {
			return err
		}
		if c, _ := res.RowsAffected(); c != 1 {
			return casLost("host")
		}
		out = h
		return nil
	})
	return out, err
}

// HostList implements store.HostStore.
func (db *DB) HostList(ctx context.Context, page store.Page) ([]store.HostRecord, string, error) {
	after, err := decodeToken(page.Token)
	if err != nil {
		return nil, "", err
	}
	limit := limitOf(page.Limit)
	rows, err := db.r.QueryContext(ctx, `SELECT `+hostCols+` FROM hosts WHERE host_id > $1 ORDER BY host_id LIMIT $2`, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	return collectPage(rows, limit, scanHost, func(last store.HostRecord) string { return encodeToken(last.ID) })
}

// JoinTokenCreate implements store.HostStore.
func (db *DB) JoinTokenCreate(ctx context.Context, t store.JoinToken) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = db.now()
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO host_join_tokens (token_hash, expires_at, created_at, used_at, host_id)
		VALUES ($1, $2, $3, 0, '')`, orEmpty(t.Hash), unixNano(t.ExpiresAt), unixNano(t.CreatedAt))
	if err != nil {
		return db.conflictOr(err, "a join token with that hash exists")
	}
	return nil
}

// JoinTokenUse implements store.HostStore: one conditional UPDATE, so that
// of two concurrent uses exactly one changes the row.
func (db *DB) JoinTokenUse(ctx context.Context, hash []byte, hostID string, now time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE host_join_tokens SET used_at = $1, host_id = $2
		WHERE token_hash = $3 AND used_at = 0 AND expires_at > $1`, unixNano(now), hostID, orEmpty(hash))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return notFound("join token")
	}
	return nil
}
