package sqlstore

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/cobaltbatch/cobalt/internal/store"
)

// Sealer encrypts and authenticates the secrets the store keeps at rest.
// aad binds a sealed value to where it is stored: a value moved to another
// row does not open. Implementations are safe for concurrent use.
type Sealer interface {
	// Seal returns plain encrypted and authenticated with aad.
	Seal(plain, aad []byte) ([]byte, error)
	// Open reverses Seal; it fails if sealed or aad were altered or the key differs.
	Open(sealed, aad []byte) ([]byte, error)
}

// NewSealer returns a Sealer that uses AES-256-GCM under key (32 bytes): the
// installation's seal key, which lives outside the store.
func NewSealer(key []byte) (Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("seal key: want 32 bytes, have %d", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return gcmSealer{gcm}, nil
}

type gcmSealer struct{ gcm cipher.AEAD }

// Seal writes nonce || ciphertext.
func (s gcmSealer) Seal(plain, aad []byte) ([]byte, error) {
	nonce := make([]byte, s.gcm.NonceSize(), s.gcm.NonceSize()+len(plain)+s.gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.gcm.Seal(nonce, nonce, plain, aad), nil
}

func (s gcmSealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < s.gcm.NonceSize() {
		return nil, errors.New("sealed value is truncated")
	}
	return s.gcm.Open(nil, sealed[:s.gcm.NonceSize()], sealed[s.gcm.NonceSize():], aad)
}

// sealedPrefix starts every sealed resource body. A body in clear is JSON and
// never starts with a NUL byte.
var sealedPrefix = []byte("\x00cobalt-sealed-v1\x00")

// sealedType reports whether bodies of resources of type typ are sealed.
func sealedType(typ string) bool {
	for _, t := range store.SealedResourceTypes {
		if strings.EqualFold(t, typ) {
			return true
		}
	}
	return false
}

// resourceAAD binds a sealed body to its resource's key.
func resourceAAD(key string) []byte { return []byte("cobalt-store-resource:" + key) }

// sealBody returns the body as it is written to the database: sealed when
// the resource's type is sealed and the store has a sealer, else as given.
func (db *DB) sealBody(r store.Resource) ([]byte, error) {
	if db.sealer == nil || !sealedType(r.Type) {
		return r.Body, nil
	}
	sealed, err := db.sealer.Seal(r.Body, resourceAAD(r.Key))
	if err != nil {
		return nil, fmt.Errorf("seal resource: %w", err)
	}
	return append(append([]byte(nil), sealedPrefix...), sealed...), nil
}

// openBody replaces a sealed body read from the database by its clear text.
func (db *DB) openBody(r *store.Resource) error {
	if !bytes.HasPrefix(r.Body, sealedPrefix) {
		return nil
	}
	if db.sealer == nil {
		return fmt.Errorf("resource %s is sealed and this store has no seal key", r.ID)
	}
	plain, err := db.sealer.Open(r.Body[len(sealedPrefix):], resourceAAD(r.Key))
	if err != nil {
		return fmt.Errorf("resource %s cannot be unsealed with this seal key (wrong key file?): %w", r.ID, err)
	}
	r.Body = plain
	return nil
}

// sealExisting seals, in tx, the bodies of sealed types that an earlier
// version stored in clear. Their versions (ETags) do not change: their
// content does not.
func (db *DB) sealExisting(ctx context.Context, tx *sql.Tx) error {
	if db.sealer == nil {
		return nil
	}
	for _, typ := range store.SealedResourceTypes {
		rows, err := tx.QueryContext(ctx, `SELECT `+resourceCols+` FROM resources WHERE type = $1`, strings.ToLower(typ))
		if err != nil {
			return err
		}
		var clear []store.Resource
		for rows.Next() {
			r, err := scanResource(rows)
			if err != nil {
				rows.Close()
				return err
			}
			if !bytes.HasPrefix(r.Body, sealedPrefix) {
				clear = append(clear, r)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, r := range clear {
			body, err := db.sealBody(r)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE resources SET body = $1 WHERE key = $2 AND version = $3`, body, r.Key, r.Version); err != nil {
				return fmt.Errorf("seal %s: %w", r.ID, err)
			}
		}
	}
	return nil
}
