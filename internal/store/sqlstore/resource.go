package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

const resourceCols = `key, id, type, parent_key, subscription_id, resource_group, unique_name, body, version, created_at, updated_at`

func scanResource(row interface{ Scan(...any) error }) (store.Resource, error) {
	var (
		r                store.Resource
		unique           sql.NullString
		created, updated int64
	)
	if err := row.Scan(&r.Key, &r.ID, &r.Type, &r.ParentKey, &r.SubscriptionID, &r.ResourceGroup, &unique,
		&r.Body, &r.Version, &created, &updated); err != nil {
		return r, err
	}
	r.UniqueName = unique.String
	r.CreatedAt, r.UpdatedAt = fromUnixNano(created), fromUnixNano(updated)
	return r, nil
}

// nullIfEmpty stores "" as NULL, which a unique index does not compare.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// scanResource reads a resource row and unseals its body.
func (db *DB) scanResource(row interface{ Scan(...any) error }) (store.Resource, error) {
	r, err := scanResource(row)
	if err != nil {
		return r, err
	}
	return r, db.openBody(&r)
}

// ResourceCreate implements store.ResourceStore.
func (db *DB) ResourceCreate(ctx context.Context, r store.Resource) (store.Resource, error) {
	if r.Key == "" || r.ID == "" || r.Type == "" {
		return r, cobalt.Errorf(cobalt.EInvalid, "a resource needs a key, an ID and a type")
	}
	r.Key = strings.ToLower(r.Key)
	if r.Body == nil {
		r.Body = []byte("{}")
	}
	now := db.now()
	r.CreatedAt, r.UpdatedAt, r.Version = now, now, 1
	body, err := db.sealBody(r)
	if err != nil {
		return r, err
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO resources (`+resourceCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)`,
		r.Key, r.ID, r.Type, r.ParentKey, r.SubscriptionID, r.ResourceGroup, nullIfEmpty(r.UniqueName), body, unixNano(now))
	if err != nil {
		return r, db.conflictOr(err, "a resource with that ID or name exists")
	}
	return r, nil
}

// ResourceGet implements store.ResourceStore.
func (db *DB) ResourceGet(ctx context.Context, key string) (store.Resource, error) {
	r, err := db.scanResource(db.r.QueryRowContext(ctx, `SELECT `+resourceCols+` FROM resources WHERE key = $1`, strings.ToLower(key)))
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("resource")
	}
	return r, err
}

// ResourceUpdate implements store.ResourceStore.
func (db *DB) ResourceUpdate(ctx context.Context, key string, fn func(*store.Resource) error) (store.Resource, error) {
	key = strings.ToLower(key)
	var out store.Resource
	err := db.tx(ctx, func(tx *sql.Tx) error {
		r, err := db.scanResource(tx.QueryRowContext(ctx, `SELECT `+resourceCols+` FROM resources WHERE key = $1`+db.d.ForUpdate, key))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("resource")
		}
		if err != nil {
			return err
		}
		fixed := r
		if err := fn(&r); err != nil {
			return err
		}
		if !strings.EqualFold(r.ID, fixed.ID) {
			r.ID = fixed.ID
		}
		r.Key, r.Type, r.ParentKey, r.SubscriptionID, r.ResourceGroup, r.UniqueName, r.CreatedAt =
			fixed.Key, fixed.Type, fixed.ParentKey, fixed.SubscriptionID, fixed.ResourceGroup, fixed.UniqueName, fixed.CreatedAt
		if r.Body == nil {
			r.Body = []byte("{}")
		}
		r.UpdatedAt, r.Version = db.now(), fixed.Version+1
		body, err := db.sealBody(r)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE resources SET id = $1, body = $2, version = $3, updated_at = $4
			WHERE key = $5 AND version = $6`, r.ID, body, r.Version, unixNano(r.UpdatedAt), key, fixed.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return casLost("resource")
		}
		out = r
		return nil
	})
	return out, err
}

// typeStorageAccount is the type of the resources whose deletion deletes
// the blob data of their name.
const typeStorageAccount = "microsoft.storage/storageaccounts"

// ResourceDelete implements store.ResourceStore.
func (db *DB) ResourceDelete(ctx context.Context, key string) error {
	key = strings.ToLower(key)
	return db.tx(ctx, func(tx *sql.Tx) error {
		var typ string
		err := tx.QueryRowContext(ctx, `SELECT type FROM resources WHERE key = $1`+db.d.ForUpdate, key).Scan(&typ)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("resource")
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM resources WHERE key = $1`, key); err != nil {
			return err
		}
		if typ != typeStorageAccount {
			return nil
		}
		// The account's blob data is known by its name alone: it goes with
		// the account, or a new account of the same name would inherit it.
		name := key[strings.LastIndex(key, "/")+1:]
		for _, q := range []string{
			`DELETE FROM blob_blocks WHERE account = $1`,
			`DELETE FROM blobs WHERE account = $1`,
			`DELETE FROM blob_containers WHERE account = $1`,
			`DELETE FROM blob_services WHERE account = $1`,
		} {
			if _, err := tx.ExecContext(ctx, q, name); err != nil {
				return err
			}
		}
		return nil
	})
}

// args accumulates positional SQL arguments.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// prefixRange returns the bounds of the keys strictly below key: every key that
// starts with key + "/" is > key+"/" - 1 char and < key + "0" ('0' follows '/').
func prefixRange(key string) (lo, hi string) {
	key = strings.TrimSuffix(key, "/")
	return key + "/", key + "0"
}

// ResourceList implements store.ResourceStore.
func (db *DB) ResourceList(ctx context.Context, p store.ResourceListParams) ([]store.Resource, string, error) {
	after, err := decodeToken(p.Page.Token)
	if err != nil {
		return nil, "", err
	}
	limit := limitOf(p.Page.Limit)
	var a args
	where := []string{"key > " + a.add(after)}
	if p.Type != "" {
		where = append(where, "type = "+a.add(strings.ToLower(p.Type)))
	}
	if p.SubscriptionID != "" {
		where = append(where, "subscription_id = "+a.add(strings.ToLower(p.SubscriptionID)))
	}
	if p.ResourceGroup != "" {
		where = append(where, "resource_group = "+a.add(strings.ToLower(p.ResourceGroup)))
	}
	if p.ParentKey != "" {
		where = append(where, "parent_key = "+a.add(strings.ToLower(p.ParentKey)))
	}
	if p.WithinKey != "" {
		lo, hi := prefixRange(strings.ToLower(p.WithinKey))
		where = append(where, "key >= "+a.add(lo), "key < "+a.add(hi))
	}
	if p.UniqueName != "" {
		where = append(where, "unique_name = "+a.add(p.UniqueName))
	}
	q := `SELECT ` + resourceCols + ` FROM resources WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY key LIMIT ` + a.add(limit+1)
	rows, err := db.r.QueryContext(ctx, q, a...)
	if err != nil {
		return nil, "", err
	}
	return collectPage(rows, limit, db.scanResource, func(last store.Resource) string { return encodeToken(last.Key) })
}

const roleAssignmentCols = `key, id, name, scope, scope_key, role_definition_id, principal_id, principal_type, body, created_at`

func scanRoleAssignment(row interface{ Scan(...any) error }) (store.RoleAssignment, error) {
	var (
		a       store.RoleAssignment
		created int64
	)
	if err := row.Scan(&a.Key, &a.ID, &a.Name, &a.Scope, &a.ScopeKey, &a.RoleDefinitionID, &a.PrincipalID,
		&a.PrincipalType, &a.Body, &created); err != nil {
		return a, err
	}
	a.CreatedAt = fromUnixNano(created)
	return a, nil
}

// RoleAssignmentCreate implements store.ResourceStore.
func (db *DB) RoleAssignmentCreate(ctx context.Context, a store.RoleAssignment) (store.RoleAssignment, error) {
	if a.ID == "" || a.Name == "" || a.ScopeKey == "" || a.RoleDefinitionID == "" || a.PrincipalID == "" {
		return a, cobalt.Errorf(cobalt.EInvalid, "a role assignment needs an ID, a name, a scope, a role definition and a principal")
	}
	a.Key = strings.ToLower(a.ID)
	a.Name = strings.ToLower(a.Name)
	a.ScopeKey = strings.ToLower(a.ScopeKey)
	a.RoleDefinitionID = strings.ToLower(a.RoleDefinitionID)
	a.PrincipalID = strings.ToLower(a.PrincipalID)
	if a.Body == nil {
		a.Body = []byte("{}")
	}
	a.CreatedAt = db.now()
	var existing store.RoleAssignment
	err := db.tx(ctx, func(tx *sql.Tx) error {
		e, err := scanRoleAssignment(tx.QueryRowContext(ctx, `SELECT `+roleAssignmentCols+` FROM role_assignments
			WHERE (scope_key = $1 AND role_definition_id = $2 AND principal_id = $3) OR key = $4`,
			a.ScopeKey, a.RoleDefinitionID, a.PrincipalID, a.Key))
		switch {
		case err == nil:
			existing = e
			if e.Key == a.Key {
				return cobalt.Errorf(cobalt.EConflict, "a role assignment with that ID exists")
			}
			return cobalt.Errorf(cobalt.EConflict, "the role assignment already exists with the name %s", e.Name)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO role_assignments (`+roleAssignmentCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			a.Key, a.ID, a.Name, a.Scope, a.ScopeKey, a.RoleDefinitionID, a.PrincipalID, a.PrincipalType, a.Body, unixNano(a.CreatedAt))
		return db.conflictOr(err, "the role assignment already exists")
	})
	if err != nil {
		if existing.Key != "" {
			return existing, err
		}
		return a, err
	}
	return a, nil
}

// RoleAssignmentGet implements store.ResourceStore.
func (db *DB) RoleAssignmentGet(ctx context.Context, key string) (store.RoleAssignment, error) {
	a, err := scanRoleAssignment(db.r.QueryRowContext(ctx, `SELECT `+roleAssignmentCols+` FROM role_assignments WHERE key = $1`, strings.ToLower(key)))
	if errors.Is(err, sql.ErrNoRows) {
		return a, notFound("role assignment")
	}
	return a, err
}

// RoleAssignmentDelete implements store.ResourceStore.
func (db *DB) RoleAssignmentDelete(ctx context.Context, key string) (store.RoleAssignment, error) {
	var out store.RoleAssignment
	err := db.tx(ctx, func(tx *sql.Tx) error {
		a, err := scanRoleAssignment(tx.QueryRowContext(ctx, `SELECT `+roleAssignmentCols+` FROM role_assignments WHERE key = $1`+db.d.ForUpdate, strings.ToLower(key)))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("role assignment")
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM role_assignments WHERE key = $1`, a.Key); err != nil {
			return err
		}
		out = a
		return nil
	})
	return out, err
}

// RoleAssignmentList implements store.ResourceStore.
func (db *DB) RoleAssignmentList(ctx context.Context, p store.RoleAssignmentListParams) ([]store.RoleAssignment, string, error) {
	after, err := decodeToken(p.Page.Token)
	if err != nil {
		return nil, "", err
	}
	limit := limitOf(p.Page.Limit)
	var a args
	where := []string{"key > " + a.add(after)}
	if p.PrincipalID != "" {
		where = append(where, "principal_id = "+a.add(strings.ToLower(p.PrincipalID)))
	}
	var alts []string
	if len(p.ScopeKeys) > 0 {
		ph := make([]string, len(p.ScopeKeys))
		for i, k := range p.ScopeKeys {
			ph[i] = a.add(strings.ToLower(k))
		}
		alts = append(alts, "scope_key IN ("+strings.Join(ph, ", ")+")")
	}
	if p.BelowKey != "" {
		lo, hi := prefixRange(strings.ToLower(p.BelowKey))
		if p.BelowKey == "/" {
			alts = append(alts, "scope_key <> '/'")
		} else {
			alts = append(alts, "(scope_key >= "+a.add(lo)+" AND scope_key < "+a.add(hi)+")")
		}
	}
	if len(alts) > 0 {
		where = append(where, "("+strings.Join(alts, " OR ")+")")
	}
	q := `SELECT ` + roleAssignmentCols + ` FROM role_assignments WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY key LIMIT ` + a.add(limit+1)
	rows, err := db.r.QueryContext(ctx, q, a...)
	if err != nil {
		return nil, "", err
	}
	return collectPage(rows, limit, scanRoleAssignment, func(last store.RoleAssignment) string { return encodeToken(last.Key) })
}
