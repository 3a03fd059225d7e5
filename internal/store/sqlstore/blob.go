package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// maxRune sorts after every character a name can hold; prefix+maxRune bounds
// the names that start with prefix.
const maxRune = "\U0010FFFF"

type containerBody struct {
	Metadata     map[string]string        `json:"metadata,omitempty"`
	ETag         string                   `json:"etag"`
	Lease        store.BlobLease          `json:"lease,omitzero"`
	PublicAccess string                   `json:"publicAccess,omitempty"`
	Policies     []store.BlobAccessPolicy `json:"policies,omitempty"`
}

func containerJSON(c *store.BlobContainer) ([]byte, error) {
	return json.Marshal(containerBody{Metadata: c.Metadata, ETag: c.ETag, Lease: c.Lease, PublicAccess: c.PublicAccess, Policies: c.Policies})
}

const containerCols = `account, name, body, version, created_at, updated_at`

func scanContainer(row interface{ Scan(...any) error }) (store.BlobContainer, error) {
	var (
		c                store.BlobContainer
		body             []byte
		created, updated int64
		b                containerBody
	)
	if err := row.Scan(&c.Account, &c.Name, &body, &c.Version, &created, &updated); err != nil {
		return c, err
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return c, fmt.Errorf("decode container: %w", err)
	}
	c.Metadata, c.ETag, c.Lease, c.PublicAccess, c.Policies = b.Metadata, b.ETag, b.Lease, b.PublicAccess, b.Policies
	c.CreatedAt, c.ModifiedAt = fromUnixNano(created), fromUnixNano(updated)
	return c, nil
}

// BlobContainerCreate implements store.BlobStore.
func (db *DB) BlobContainerCreate(ctx context.Context, c store.BlobContainer) (store.BlobContainer, error) {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = db.now()
	}
	if c.ModifiedAt.IsZero() {
		c.ModifiedAt = c.CreatedAt
	}
	c.Version = 1
	body, err := containerJSON(&c)
	if err != nil {
		return c, err
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO blob_containers (`+containerCols+`) VALUES ($1, $2, $3, 1, $4, $5)`,
		c.Account, c.Name, body, unixNano(c.CreatedAt), unixNano(c.ModifiedAt))
	return c, db.conflictOr(err, "the container exists")
}

func (db *DB) getContainer(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, account, name, suffix string) (store.BlobContainer, error) {
	c, err := scanContainer(q.QueryRowContext(ctx, `SELECT `+containerCols+` FROM blob_containers WHERE account = $1 AND name = $2`+suffix, account, name))
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("container")
	}
	return c, err
}

// BlobContainerGet implements store.BlobStore.
func (db *DB) BlobContainerGet(ctx context.Context, account, name string) (store.BlobContainer, error) {
	return db.getContainer(ctx, db.r, account, name, "")
}

// BlobContainerUpdate implements store.BlobStore.
func (db *DB) BlobContainerUpdate(ctx context.Context, account, name string, fn func(*store.BlobContainer) error) (store.BlobContainer, error) {
	var out store.BlobContainer
	err := db.tx(ctx, func(tx *sql.Tx) error {
		c, err := db.getContainer(ctx, tx, account, name, db.d.ForUpdate)
		if err != nil {
			return err
		}
		old := c.Version
		if err := fn(&c); err != nil {
			return err
		}
		c.Account, c.Name, c.Version = account, name, old+1
		body, err := containerJSON(&c)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE blob_containers SET body = $1, version = $2, updated_at = $3
			WHERE account = $4 AND name = $5 AND version = $6`, body, c.Version, unixNano(c.ModifiedAt), account, name, old)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return casLost("container")
		}
		out = c
		return nil
	})
	return out, err
}

// BlobContainerDelete implements store.BlobStore.
func (db *DB) BlobContainerDelete(ctx context.Context, account, name string, check func(store.BlobContainer) error) ([]string, error) {
	var files []string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		files = nil
		c, err := db.getContainer(ctx, tx, account, name, db.d.ForUpdate)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(c); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT body FROM blobs WHERE account = $1 AND container = $2`, account, name)
		if err != nil {
			return err
		}
		for rows.Next() {
			var body []byte
			if err := rows.Scan(&body); err != nil {
				rows.Close()
				return err
			}
			var b blobBody
			if err := json.Unmarshal(body, &b); err != nil {
				rows.Close()
				return fmt.Errorf("decode blob: %w", err)
			}
			for _, e := range b.Extents {
				files = append(files, e.File)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		bf, err := blockFiles(ctx, tx, `SELECT file FROM blob_blocks WHERE account = $1 AND container = $2`, account, name)
		if err != nil {
			return err
		}
		files = append(files, bf...)
		for _, q := range []string{
			`DELETE FROM blob_blocks WHERE account = $1 AND container = $2`,
			`DELETE FROM blobs WHERE account = $1 AND container = $2`,
			`DELETE FROM blob_containers WHERE account = $1 AND name = $2`,
		} {
			if _, err := tx.ExecContext(ctx, q, account, name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

func blockFiles(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// BlobContainerList implements store.BlobStore.
func (db *DB) BlobContainerList(ctx context.Context, account, prefix, after string, limit int) ([]store.BlobContainer, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+containerCols+` FROM blob_containers
		WHERE account = $1 AND name >= $2 AND name > $3 AND name < $4 ORDER BY name LIMIT $5`, account, prefix, after, prefix+maxRune, limitOf(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.BlobContainer
	for rows.Next() {
		c, err := scanContainer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

type blobBody struct {
	ContentType        string             `json:"contentType,omitempty"`
	ContentEncoding    string             `json:"contentEncoding,omitempty"`
	ContentLanguage    string             `json:"contentLanguage,omitempty"`
	ContentDisposition string             `json:"contentDisposition,omitempty"`
	CacheControl       string             `json:"cacheControl,omitempty"`
	ContentMD5         []byte             `json:"contentMD5,omitempty"`
	Metadata           map[string]string  `json:"metadata,omitempty"`
	Extents            []store.BlobExtent `json:"extents"`
	ETag               string             `json:"etag"`
	BlobType           string             `json:"blobType,omitempty"`
	Sealed             bool               `json:"sealed,omitempty"`
	AccessTier         string             `json:"accessTier,omitempty"`
	TierChangedAt      time.Time          `json:"tierChangedAt,omitzero"`
	Tags               map[string]string  `json:"tags,omitempty"`
	Lease              store.BlobLease    `json:"lease,omitzero"`
	Copy               *store.BlobCopy    `json:"copy,omitempty"`
}

const blobCols = `account, container, name, size, body, version, created_at, updated_at`

func scanBlob(row interface{ Scan(...any) error }) (store.BlobRecord, error) {
	var (
		r                store.BlobRecord
		body             []byte
		created, updated int64
		b                blobBody
	)
	if err := row.Scan(&r.Account, &r.Container, &r.Name, &r.Size, &body, &r.Version, &created, &updated); err != nil {
		return r, err
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return r, fmt.Errorf("decode blob: %w", err)
	}
	r.ContentType, r.ContentEncoding, r.ContentLanguage = b.ContentType, b.ContentEncoding, b.ContentLanguage
	r.ContentDisposition, r.CacheControl, r.ContentMD5 = b.ContentDisposition, b.CacheControl, b.ContentMD5
	r.Metadata, r.Extents, r.ETag = b.Metadata, b.Extents, b.ETag
	r.BlobType, r.Sealed, r.AccessTier, r.TierChangedAt = b.BlobType, b.Sealed, b.AccessTier, b.TierChangedAt
	r.Tags, r.Lease, r.Copy = b.Tags, b.Lease, b.Copy
	r.CreatedAt, r.ModifiedAt = fromUnixNano(created), fromUnixNano(updated)
	return r, nil
}

func blobJSON(r *store.BlobRecord) ([]byte, error) {
	ext := r.Extents
	if ext == nil {
		ext = []store.BlobExtent{}
	}
	return json.Marshal(blobBody{ContentType: r.ContentType, ContentEncoding: r.ContentEncoding, ContentLanguage: r.ContentLanguage,
		ContentDisposition: r.ContentDisposition, CacheControl: r.CacheControl, ContentMD5: r.ContentMD5,
		Metadata: r.Metadata, Extents: ext, ETag: r.ETag, BlobType: r.BlobType, Sealed: r.Sealed, AccessTier: r.AccessTier,
		TierChangedAt: r.TierChangedAt, Tags: r.Tags, Lease: r.Lease, Copy: r.Copy})
}

func (db *DB) getBlob(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, account, container, name string) (store.BlobRecord, error) {
	r, err := scanBlob(q.QueryRowContext(ctx, `SELECT `+blobCols+` FROM blobs WHERE account = $1 AND container = $2 AND name = $3`, account, container, name))
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("blob")
	}
	return r, err
}

// BlobGet implements store.BlobStore.
func (db *DB) BlobGet(ctx context.Context, account, container, name string) (store.BlobRecord, error) {
	return db.getBlob(ctx, db.r, account, container, name)
}

// released returns the files in old that are not in keep.
func released(old []string, keep []string) []string {
	k := make(map[string]bool, len(keep))
	for _, f := range keep {
		k[f] = true
	}
	var out []string
	for _, f := range old {
		if !k[f] {
			k[f] = true
			out = append(out, f)
		}
	}
	return out
}

// BlobPut implements store.BlobStore.
func (db *DB) BlobPut(ctx context.Context, account, container, name string, fn func(cur *store.BlobRecord, blocks []store.BlobBlock) (store.BlobRecord, error)) (store.BlobRecord, []string, error) {
	var (
		out   store.BlobRecord
		files []string
	)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		// Locking the container serializes writers of its blobs (PostgreSQL) and
		// proves that it exists.
		if _, err := db.getContainer(ctx, tx, account, container, db.d.ForUpdate); err != nil {
			return err
		}
		var cur *store.BlobRecord
		r, err := db.getBlob(ctx, tx, account, container, name)
		switch {
		case err == nil:
			cur = &r
		case !cobalt.IsCode(err, cobalt.ENotFound):
			return err
		}
		blocks, err := listBlocks(ctx, tx, account, container, name)
		if err != nil {
			return err
		}
		nr, err := fn(cur, blocks)
		if err != nil {
			return err
		}
		nr.Account, nr.Container, nr.Name = account, container, name
		nr.Size = 0
		for _, e := range nr.Extents {
			nr.Size += e.Size
		}
		now := db.now()
		if nr.ModifiedAt.IsZero() {
			nr.ModifiedAt = now
		}
		if cur != nil {
			nr.CreatedAt, nr.Version = cur.CreatedAt, cur.Version+1
		} else {
			nr.CreatedAt, nr.Version = nr.ModifiedAt, 1
		}
		body, err := blobJSON(&nr)
		if err != nil {
			return err
		}
		if cur != nil {
			_, err = tx.ExecContext(ctx, `UPDATE blobs SET size = $1, body = $2, version = $3, updated_at = $4
				WHERE account = $5 AND container = $6 AND name = $7`, nr.Size, body, nr.Version, unixNano(nr.ModifiedAt), account, container, name)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO blobs (`+blobCols+`) VALUES ($1, $2, $3, $4, $5, 1, $6, $7)`,
				account, container, name, nr.Size, body, unixNano(nr.CreatedAt), unixNano(nr.ModifiedAt))
		}
		if err != nil {
			return db.conflictOr(err, "the blob was created concurrently")
		}
		if len(blocks) > 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM blob_blocks WHERE account = $1 AND container = $2 AND blob = $3`, account, container, name); err != nil {
				return err
			}
		}
		old := cur.Files()
		for _, b := range blocks {
			old = append(old, b.File)
		}
		files, out = released(old, nr.Files()), nr
		return nil
	})
	if err != nil {
		return store.BlobRecord{}, nil, err
	}
	return out, files, nil
}

// BlobUpdate implements store.BlobStore.
func (db *DB) BlobUpdate(ctx context.Context, account, container, name string, fn func(*store.BlobRecord) error) (store.BlobRecord, error) {
	var out store.BlobRecord
	err := db.tx(ctx, func(tx *sql.Tx) error {
		r, err := scanBlob(tx.QueryRowContext(ctx, `SELECT `+blobCols+` FROM blobs WHERE account = $1 AND container = $2 AND name = $3`+db.d.ForUpdate, account, container, name))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("blob")
		}
		if err != nil {
			return err
		}
		old, ext, size, created := r.Version, r.Extents, r.Size, r.CreatedAt
		if err := fn(&r); err != nil {
			return err
		}
		r.Account, r.Container, r.Name, r.Extents, r.Size, r.CreatedAt, r.Version = account, container, name, ext, size, created, old+1
		if r.ModifiedAt.IsZero() {
			r.ModifiedAt = db.now()
		}
		body, err := blobJSON(&r)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE blobs SET body = $1, version = $2, updated_at = $3
			WHERE account = $4 AND container = $5 AND name = $6 AND version = $7`, body, r.Version, unixNano(r.ModifiedAt), account, container, name, old)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return casLost("blob")
		}
		out = r
		return nil
	})
	return out, err
}

// BlobDelete implements store.BlobStore.
func (db *DB) BlobDelete(ctx context.Context, account, container, name string, check func(store.BlobRecord) error) ([]string, error) {
	var files []string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		r, err := scanBlob(tx.QueryRowContext(ctx, `SELECT `+blobCols+` FROM blobs WHERE account = $1 AND container = $2 AND name = $3`+db.d.ForUpdate, account, container, name))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("blob")
		}
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(r); err != nil {
				return err
			}
		}
		bf, err := blockFiles(ctx, tx, `SELECT file FROM blob_blocks WHERE account = $1 AND container = $2 AND blob = $3`, account, container, name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM blob_blocks WHERE account = $1 AND container = $2 AND blob = $3`, account, container, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM blobs WHERE account = $1 AND container = $2 AND name = $3`, account, container, name); err != nil {
			return err
		}
		files = released(append(r.Files(), bf...), nil)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// BlobList implements store.BlobStore.
func (db *DB) BlobList(ctx context.Context, p store.BlobListParams) ([]store.BlobRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+blobCols+` FROM blobs
		WHERE account = $1 AND container = $2 AND name >= $3 AND name > $4 AND name < $5 AND name >= $7 ORDER BY name LIMIT $6`,
		p.Account, p.Container, p.Prefix, p.After, p.Prefix+maxRune, limitOf(p.Limit), p.From)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.BlobRecord
	for rows.Next() {
		r, err := scanBlob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func listBlocks(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, account, container, blob string) ([]store.BlobBlock, error) {
	rows, err := q.QueryContext(ctx, `SELECT block_id, file, size, created_at FROM blob_blocks
		WHERE account = $1 AND container = $2 AND blob = $3 ORDER BY seq`, account, container, blob)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.BlobBlock
	for rows.Next() {
		b := store.BlobBlock{Account: account, Container: container, Blob: blob}
		var created int64
		if err := rows.Scan(&b.ID, &b.File, &b.Size, &created); err != nil {
			return nil, err
		}
		b.CreatedAt = fromUnixNano(created)
		out = append(out, b)
	}
	return out, rows.Err()
}

// BlobBlockPut implements store.BlobStore.
func (db *DB) BlobBlockPut(ctx context.Context, b store.BlobBlock) ([]string, error) {
	if b.CreatedAt.IsZero() {
		b.CreatedAt = db.now()
	}
	var files []string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		files = nil
		if _, err := db.getContainer(ctx, tx, b.Account, b.Container, db.d.ForUpdate); err != nil {
			return err
		}
		old, err := blockFiles(ctx, tx, `DELETE FROM blob_blocks WHERE account = $1 AND container = $2 AND blob = $3 AND block_id = $4 RETURNING file`,
			b.Account, b.Container, b.Blob, b.ID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO blob_blocks (account, container, blob, block_id, file, size, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, b.Account, b.Container, b.Blob, b.ID, b.File, b.Size, unixNano(b.CreatedAt)); err != nil {
			return err
		}
		files = released(old, []string{b.File})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// BlobBlockCount implements store.BlobStore.
func (db *DB) BlobBlockCount(ctx context.Context, account, container, blob string) (int, string, error) {
	var (
		n  int
		id sql.NullString
	)
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*), MIN(block_id) FROM blob_blocks WHERE account = $1 AND container = $2 AND blob = $3`,
		account, container, blob).Scan(&n, &id)
	return n, id.String, err
}

// BlobBlockList implements store.BlobStore.
func (db *DB) BlobBlockList(ctx context.Context, account, container, blob string) ([]store.BlobBlock, error) {
	return listBlocks(ctx, db.r, account, container, blob)
}

// BlobBlockExpire implements store.BlobStore.
func (db *DB) BlobBlockExpire(ctx context.Context, before time.Time, limit int) ([]string, error) {
	var files []string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var err error
		files, err = blockFiles(ctx, tx, `DELETE FROM blob_blocks WHERE seq IN
			(SELECT seq FROM blob_blocks WHERE created_at < $1 ORDER BY created_at LIMIT $2) RETURNING file`, unixNano(before), limitOf(limit))
		return err
	})
	return files, err
}

// BlobFileRefs implements store.BlobStore.
func (db *DB) BlobFileRefs(ctx context.Context, fn func(string) error) error {
	rows, err := db.r.QueryContext(ctx, `SELECT file FROM blob_blocks`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			rows.Close()
			return err
		}
		if err := fn(f); err != nil {
			rows.Close()
			return err
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	// Blobs are walked in pages by key, so that no read transaction stays open long.
	type key struct{ a, c, n string }
	var after key
	for {
		rows, err := db.r.QueryContext(ctx, `SELECT account, container, name, body FROM blobs
			WHERE (account, container, name) > ($1, $2, $3) ORDER BY account, container, name LIMIT 500`, after.a, after.c, after.n)
		if err != nil {
			return err
		}
		n := 0
		var files []string
		for rows.Next() {
			var body []byte
			if err := rows.Scan(&after.a, &after.c, &after.n, &body); err != nil {
				rows.Close()
				return err
			}
			var b blobBody
			if err := json.Unmarshal(body, &b); err != nil {
				rows.Close()
				return fmt.Errorf("decode blob: %w", err)
			}
			for _, e := range b.Extents {
				files = append(files, e.File)
			}
			n++
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, f := range files {
			if err := fn(f); err != nil {
				return err
			}
		}
		if n < 500 {
			return nil
		}
	}
}

// BlobServiceGet implements store.BlobStore.
func (db *DB) BlobServiceGet(ctx context.Context, account string) (store.BlobServiceProps, error) {
	var body []byte
	err := db.r.QueryRowContext(ctx, `SELECT body FROM blob_services WHERE account = $1`, account).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("blob service properties")
	}
	return body, err
}

// BlobServiceSet implements store.BlobStore.
func (db *DB) BlobServiceSet(ctx context.Context, account string, props store.BlobServiceProps) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO blob_services (account, body, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (account) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`, account, []byte(props), unixNano(db.now()))
	return err
}
