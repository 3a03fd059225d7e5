package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

func openCaching(t testing.TB) *sql.DB {
	t.Helper()
	db := sql.OpenDB(newConnector("file:" + filepath.Join(t.TempDir(), "c.db") + "?_pragma=journal_mode(WAL)"))
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := db.ExecContext(ctx, "INSERT INTO t (id, v) VALUES (?, ?)", i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestStmtCacheNestedSameQuery: a query run again while the rows of the
// same text are still open on the connection (one connection, so inside
// the iteration) gets its own rows, and neither iteration disturbs the other.
func TestStmtCacheNestedSameQuery(t *testing.T) {
	db := openCaching(t)
	ctx := context.Background()
	const q = "SELECT id FROM t WHERE id >= ? ORDER BY id"
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	outer, err := tx.QueryContext(ctx, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for outer.Next() {
		var id int
		if err := outer.Scan(&id); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.QueryContext(ctx, q, 8)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for inner.Next() {
			n++
		}
		if err := inner.Close(); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprint(id, ":", n))
	}
	if err := outer.Close(); err != nil {
		t.Fatal(err)
	}
	want := "[0:2 1:2 2:2 3:2 4:2 5:2 6:2 7:2 8:2 9:2]"
	if fmt.Sprint(got) != want {
		t.Fatalf("nested iteration: got %v, want %s", got, want)
	}
	// The statement is free again: the next run starts from its first row.
	var first int
	if err := tx.QueryRowContext(ctx, q, 3).Scan(&first); err != nil || first != 3 {
		t.Fatalf("after the nested runs: %d, %v", first, err)
	}
}

// TestStmtCacheAfterErrors: a cached statement that failed (a constraint, a
// rows iteration abandoned early) runs correctly the next time.
func TestStmtCacheAfterErrors(t *testing.T) {
	db := openCaching(t)
	ctx := context.Background()
	const ins = "INSERT INTO t (id, v) VALUES (?, ?)"
	if _, err := db.ExecContext(ctx, ins, 100, "v1"); err == nil {
		t.Fatal("a duplicate v was inserted")
	}
	if _, err := db.ExecContext(ctx, ins, 100, "v100"); err != nil {
		t.Fatalf("the same statement after its failure: %v", err)
	}
	rows, err := db.QueryContext(ctx, "SELECT v FROM t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	rows.Next() // abandon after one row
	rows.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 11 {
		t.Fatalf("count: %d, %v", n, err)
	}
	var v string
	if err := db.QueryRowContext(ctx, "SELECT v FROM t ORDER BY id").Scan(&v); err != nil || v != "v0" {
		t.Fatalf("the abandoned query again: %q, %v", v, err)
	}
}

// TestStmtCacheBounded: more distinct texts than the cache holds all run,
// and the connection's cache never exceeds its bound.
func TestStmtCacheBounded(t *testing.T) {
	db := openCaching(t)
	ctx := context.Background()
	for i := range maxCachedStmts + 50 {
		var got int
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT %d + id FROM t WHERE id = ?", i), 1).Scan(&got); err != nil || got != i+1 {
			t.Fatalf("query %d: %d, %v", i, got, err)
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Raw(func(dc any) error {
		if n := len(dc.(*cachingConn).stmts); n > maxCachedStmts || n == 0 {
			return fmt.Errorf("%d cached statements, bound %d", n, maxCachedStmts)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPointQuery: one primary-key read through database/sql, with the
// statement cache and with modernc's plain driver (a parse per call).
// In-process.
func BenchmarkPointQuery(b *testing.B) {
	cached := openCaching(b)
	plain, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "p.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()
	ctx := context.Background()
	if _, err := plain.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE); INSERT INTO t VALUES (1, 'v1')"); err != nil {
		b.Fatal(err)
	}
	const q = "SELECT v FROM t WHERE id = ? AND v IS NOT NULL AND length(v) > 0"
	for _, c := range []struct {
		name string
		db   *sql.DB
	}{{"cached", cached}, {"plain", plain}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				var v string
				if err := c.db.QueryRowContext(ctx, q, 1).Scan(&v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
