package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache holds a DB's prepared statements of the hottest reads (GET pool,
// node authentication) on its reader handle: parsing the SQL again on every
// call costs more than running it. The statements belong to the DB and are
// closed with it.
type stmtCache struct {
	mu     sync.Mutex
	closed bool
	m      map[string]*sql.Stmt
}

// prepared returns the reader's prepared statement for query, preparing it
// on first use. It fails with errStoreClosed once the DB is closed.
func (db *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	c := &db.stmts
	c.mu.Lock()
	st, ok := c.m[query]
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, errStoreClosed
	}
	if ok {
		return st, nil
	}
	st, err := db.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = st.Close()
		return nil, errStoreClosed
	}
	if prev, ok := c.m[query]; ok {
		_ = st.Close()
		return prev, nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st, nil
}

// close closes every cached statement; later prepared calls fail.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var err error
	for _, st := range c.m {
		err = errors.Join(err, st.Close())
	}
	c.m = nil
	return err
}
