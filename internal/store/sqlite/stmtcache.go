package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"

	"modernc.org/sqlite"
)

// maxCachedStmts bounds each connection's prepared statements. The store's
// queries are a fixed set of a few hundred texts; the bound only matters for
// texts built at run time (IN lists of varying length), which then churn
// instead of growing without limit.
const maxCachedStmts = 512

// connector opens modernc connections that keep every statement they run
// prepared, keyed by its text. database/sql hands a query string straight to
// the driver's QueryContext, and modernc then parses and plans the SQL on
// every call: profiles of the control plane under load showed SQLite's
// parser (yy_reduce and friends) as the largest single cost of a short query.
// A prepared single statement in modernc is compiled once and reset between
// runs, so reusing it per connection removes the parse.
type connector struct {
	dsn string
	drv *sqlite.Driver
}

func newConnector(dsn string) *connector { return &connector{dsn: dsn, drv: &sqlite.Driver{}} }

// Connect opens one connection with the DSN's pragmas and an empty cache.
func (c *connector) Connect(context.Context) (driver.Conn, error) {
	dc, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	in, ok := dc.(innerConn)
	if !ok {
		_ = dc.Close()
		return nil, errors.New("sqlite: driver connection lacks the context interfaces")
	}
	return &cachingConn{innerConn: in, stmts: map[string]*cachedStmt{}}, nil
}

// Driver returns the underlying modernc driver.
func (c *connector) Driver() driver.Driver { return c.drv }

// innerConn is what modernc's connection implements and cachingConn passes
// through unchanged.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// stmtContext is what modernc's statements implement.
type stmtContext interface {
	driver.Stmt
	driver.StmtQueryContext
	driver.StmtExecContext
}

// cachedStmt is a prepared statement and whether rows of it are open: a
// statement with open rows is not run again until they close (a query nested
// in the iteration of the same query's rows runs unprepared instead).
type cachedStmt struct {
	st   stmtContext
	busy bool
}

// cachingConn is a modernc connection with a statement cache. database/sql
// never uses one driver connection from two goroutines at once (rows are
// closed under the connection's lock too), so the cache needs no mutex.
type cachingConn struct {
	innerConn
	stmts map[string]*cachedStmt
}

// stmt returns the cached statement for query, preparing it on first use; nil
// (and no error) means run the query unprepared: the statement is busy.
func (c *cachingConn) stmt(ctx context.Context, query string) (*cachedStmt, error) {
	if cs, ok := c.stmts[query]; ok {
		if cs.busy {
			return nil, nil
		}
		return cs, nil
	}
	ds, err := c.innerConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(stmtContext)
	if !ok {
		_ = ds.Close()
		return nil, nil
	}
	if len(c.stmts) >= maxCachedStmts {
		c.evict()
	}
	cs := &cachedStmt{st: st}
	c.stmts[query] = cs
	return cs, nil
}

// evict closes every statement without open rows. Emptying the cache at once
// keeps eviction simple; it only happens with run-time query texts.
func (c *cachingConn) evict() {
	for q, cs := range c.stmts {
		if !cs.busy {
			_ = cs.st.Close()
			delete(c.stmts, q)
		}
	}
}

// QueryContext runs query through its cached statement.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.innerConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.st.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, cs: cs}, nil
}

// ExecContext runs query through its cached statement.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.innerConn.ExecContext(ctx, query, args)
	}
	return cs.st.ExecContext(ctx, args)
}

// Close finalizes the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	var err error
	for q, cs := range c.stmts {
		err = errors.Join(err, cs.st.Close())
		delete(c.stmts, q)
	}
	return errors.Join(err, c.innerConn.Close())
}

// cachedRows frees its statement for the next run when closed. modernc
// resets (rather than finalizes) a cached statement's rows on Close.
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.cs.busy = false
	return err
}
