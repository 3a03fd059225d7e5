package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// MetaGet implements store.MetaStore.
func (db *DB) MetaGet(ctx context.Context, key string) (string, error) {
	var v string
	err := db.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("meta " + key)
	}
	return v, err
}

// MetaPutIfAbsent implements store.MetaStore.
func (db *DB) MetaPutIfAbsent(ctx context.Context, key, value string) (string, error) {
	var out string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&out)
	})
	return out, err
}

type principalBody struct {
	cobalt.Principal
	Secrets  []store.Secret      `json:"secrets,omitempty"`
	Password *store.PasswordHash `json:"password,omitempty"`
	Disabled bool                `json:"disabled,omitempty"`
}

const principalCols = `body, version, created_at, updated_at`

func scanPrincipal(row interface{ Scan(...any) error }) (store.PrincipalRecord, error) {
	var (
		body             []byte
		p                store.PrincipalRecord
		created, updated int64
		b                principalBody
	)
	if err := row.Scan(&body, &p.Version, &created, &updated); err != nil {
		return p, err
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return p, fmt.Errorf("decode principal: %w", err)
	}
	p.Principal, p.Secrets, p.Password, p.Disabled = b.Principal, b.Secrets, b.Password, b.Disabled
	p.CreatedAt, p.UpdatedAt = fromUnixNano(created), fromUnixNano(updated)
	return p, nil
}

func principalJSON(p store.PrincipalRecord) ([]byte, error) {
	return json.Marshal(principalBody{Principal: p.Principal, Secrets: p.Secrets, Password: p.Password, Disabled: p.Disabled})
}

// userName is the user_name column of a principal: its user principal name
// in lower case, or NULL when it has none.
func userName(p store.PrincipalRecord) any {
	if p.UserPrincipalName == "" {
		return nil
	}
	return strings.ToLower(p.UserPrincipalName)
}

// PrincipalCreate implements store.PrincipalStore.
func (db *DB) PrincipalCreate(ctx context.Context, p store.PrincipalRecord) (store.PrincipalRecord, error) {
	if p.ObjectID == "" || p.TenantID == "" || p.ClientID == "" {
		return p, cobalt.Errorf(cobalt.EInvalid, "a principal needs an object ID, a tenant ID and a client ID")
	}
	body, err := principalJSON(p)
	if err != nil {
		return p, err
	}
	now := db.now()
	p.CreatedAt, p.UpdatedAt, p.Version = now, now, 1
	_, err = db.w.ExecContext(ctx, `INSERT INTO principals (object_id, tenant_id, client_id, body, version, created_at, updated_at, user_name)
		VALUES ($1, $2, $3, $4, 1, $5, $5, $6)`, p.ObjectID, p.TenantID, p.ClientID, body, unixNano(now), userName(p))
	if err != nil {
		return p, db.conflictOr(err, "a principal with that object ID, client ID or user name exists")
	}
	return p, nil
}

// PrincipalGet implements store.PrincipalStore.
func (db *DB) PrincipalGet(ctx context.Context, objectID string) (store.PrincipalRecord, error) {
	p, err := scanPrincipal(db.r.QueryRowContext(ctx, `SELECT `+principalCols+` FROM principals WHERE object_id = $1`, objectID))
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound("principal")
	}
	return p, err
}

// PrincipalGetByClientID implements store.PrincipalStore.
func (db *DB) PrincipalGetByClientID(ctx context.Context, tenantID, clientID string) (store.PrincipalRecord, error) {
	p, err := scanPrincipal(db.r.QueryRowContext(ctx, `SELECT `+principalCols+` FROM principals WHERE tenant_id = $1 AND client_id = $2`, tenantID, clientID))
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound("principal")
	}
	return p, err
}

// PrincipalGetByUserName implements store.PrincipalStore.
func (db *DB) PrincipalGetByUserName(ctx context.Context, tenantID, upn string) (store.PrincipalRecord, error) {
	p, err := scanPrincipal(db.r.QueryRowContext(ctx, `SELECT `+principalCols+` FROM principals WHERE tenant_id = $1 AND user_name = $2`, tenantID, strings.ToLower(upn)))
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound("user")
	}
	return p, err
}

// PrincipalUpdate implements store.PrincipalStore.
func (db *DB) PrincipalUpdate(ctx context.Context, objectID string, fn func(*store.PrincipalRecord) error) (store.PrincipalRecord, error) {
	var out store.PrincipalRecord
	err := db.tx(ctx, func(tx *sql.Tx) error {
		p, err := scanPrincipal(tx.QueryRowContext(ctx, `SELECT `+principalCols+` FROM principals WHERE object_id = $1`+db.d.ForUpdate, objectID))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("principal")
		}
		if err != nil {
			return err
		}
		old := p.Version
		if err := fn(&p); err != nil {
			return err
		}
		p.ObjectID = objectID
		body, err := principalJSON(p)
		if err != nil {
			return err
		}
		p.UpdatedAt, p.Version = db.now(), old+1
		res, err := tx.ExecContext(ctx, `UPDATE principals SET client_id = $1, body = $2, version = $3, updated_at = $4, user_name = $7
			WHERE object_id = $5 AND version = $6`, p.ClientID, body, p.Version, unixNano(p.UpdatedAt), objectID, old, userName(p))
		if err != nil {
			return db.conflictOr(err, "a principal with that client ID or user name exists")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return casLost("principal")
		}
		out = p
		return nil
	})
	return out, err
}

// PrincipalDelete implements store.PrincipalStore.
func (db *DB) PrincipalDelete(ctx context.Context, objectID string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM principals WHERE object_id = $1`, objectID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("principal")
	}
	return nil
}

// PrincipalList implements store.PrincipalStore.
func (db *DB) PrincipalList(ctx context.Context, tenantID string, page store.Page) ([]store.PrincipalRecord, string, error) {
	after, err := decodeToken(page.Token)
	if err != nil {
		return nil, "", err
	}
	limit := limitOf(page.Limit)
	rows, err := db.r.QueryContext(ctx, `SELECT `+principalCols+` FROM principals
		WHERE tenant_id = $1 AND object_id > $2 ORDER BY object_id LIMIT $3`, tenantID, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	return collectPage(rows, limit, scanPrincipal, func(last store.PrincipalRecord) string { return encodeToken(last.ObjectID) })
}

type keyBody struct {
	Alg          string `json:"alg"`
	PublicJWK    []byte `json:"publicJwk"`
	PrivateKey   []byte `json:"privateKey"`
	SignFrom     int64  `json:"signFrom"`
	RetiredAt    int64  `json:"retiredAt"`
	PublishUntil int64  `json:"publishUntil"`
}

func scanKey(row interface{ Scan(...any) error }) (store.SigningKey, error) {
	var (
		k       store.SigningKey
		body    []byte
		created int64
		b       keyBody
	)
	if err := row.Scan(&k.KID, &body, &created, &k.Version); err != nil {
		return k, err
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return k, fmt.Errorf("decode key: %w", err)
	}
	k.Alg, k.PublicJWK, k.PrivateKey = b.Alg, b.PublicJWK, b.PrivateKey
	k.CreatedAt, k.SignFrom = fromUnixNano(created), fromUnixNano(b.SignFrom)
	k.RetiredAt, k.PublishUntil = fromUnixNano(b.RetiredAt), fromUnixNano(b.PublishUntil)
	return k, nil
}

func keyJSON(k store.SigningKey) ([]byte, error) {
	return json.Marshal(keyBody{Alg: k.Alg, PublicJWK: k.PublicJWK, PrivateKey: k.PrivateKey,
		SignFrom: unixNano(k.SignFrom), RetiredAt: unixNano(k.RetiredAt), PublishUntil: unixNano(k.PublishUntil)})
}

// KeyCreate implements store.KeyStore.
func (db *DB) KeyCreate(ctx context.Context, k store.SigningKey) (store.SigningKey, error) {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = db.now()
	}
	k.Version = 1
	body, err := keyJSON(k)
	if err != nil {
		return k, err
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO signing_keys (kid, body, created_at, version) VALUES ($1, $2, $3, 1)`,
		k.KID, body, unixNano(k.CreatedAt))
	return k, db.conflictOr(err, "a key with that ID exists")
}

// KeyList implements store.KeyStore.
func (db *DB) KeyList(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT kid, body, created_at, version FROM signing_keys ORDER BY created_at DESC, kid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// KeyUpdate implements store.KeyStore.
func (db *DB) KeyUpdate(ctx context.Context, kid string, fn func(*store.SigningKey) error) (store.SigningKey, error) {
	var out store.SigningKey
	err := db.tx(ctx, func(tx *sql.Tx) error {
		k, err := scanKey(tx.QueryRowContext(ctx, `SELECT kid, body, created_at, version FROM signing_keys WHERE kid = $1`+db.d.ForUpdate, kid))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("signing key")
		}
		if err != nil {
			return err
		}
		old := k.Version
		if err := fn(&k); err != nil {
			return err
		}
		k.KID, k.Version = kid, old+1
		body, err := keyJSON(k)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE signing_keys SET body = $1, version = $2 WHERE kid = $3 AND version = $4`, body, k.Version, kid, old)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return casLost("signing key")
		}
		out = k
		return nil
	})
	return out, err
}

// KeyDelete implements store.KeyStore.
func (db *DB) KeyDelete(ctx context.Context, kid string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM signing_keys WHERE kid = $1`, kid)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("signing key")
	}
	return nil
}

// AuditList implements store.AuditStore.
func (db *DB) AuditList(ctx context.Context, kind string, page store.Page) ([]store.AuditRecord, string, error) {
	after, err := decodeToken(page.Token)
	if err != nil {
		return nil, "", err
	}
	var afterID int64
	if after != "" {
		if _, err := fmt.Sscan(after, &afterID); err != nil {
			return nil, "", cobalt.Errorf(cobalt.EInvalid, "the page token is not valid")
		}
	}
	limit := limitOf(page.Limit)
	rows, err := db.r.QueryContext(ctx, `SELECT id, at, kind, actor, subject, fields FROM audit
		WHERE ($1 = '' OR kind = $1) AND id > $2 ORDER BY id LIMIT $3`, kind, afterID, limit+1)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []store.AuditRecord
	for rows.Next() {
		var (
			r      store.AuditRecord
			at     int64
			fields []byte
		)
		if err := rows.Scan(&r.ID, &at, &r.Kind, &r.Actor, &r.Subject, &fields); err != nil {
			return nil, "", err
		}
		r.Time = fromUnixNano(at)
		if err := json.Unmarshal(fields, &r.Fields); err != nil {
			return nil, "", fmt.Errorf("decode audit fields: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeToken(fmt.Sprint(out[limit-1].ID))
	}
	return out, next, nil
}
