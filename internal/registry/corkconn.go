package registry

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
)

// corkSize is how much a corked connection gathers before it writes.
const corkSize = 256 << 10

var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, corkSize); return &b }}

// corkConn is a registry connection under TLS whose writes can be gathered
// while a blob is served, and whose reads can run ahead while an upload's
// body is read. crypto/tls writes each record (16 KiB at most) with a
// system call of its own: a 200 MiB layer is 12,800 writes, and on
// loopback each one is also a trip through the TCP stack for the sending
// and the receiving side. Corked, the records go out 256 KiB at a time,
// in the order they were written. Outside cork and uncork every write goes
// straight through, so small answers are never held back. Likewise
// crypto/tls reads little more than one record per system call; reading
// ahead, one call takes whatever has arrived, up to 256 KiB, and the
// records are handed out from that.
type corkConn struct {
	net.Conn

	mu     sync.Mutex
	buf    *[]byte // while corked: the records not written yet
	corked bool
	err    error // a failed write of gathered records: every later write fails

	ahead atomic.Bool
	// What a read ahead took and was not handed out yet: rbuf[roff:rend],
	// then rerr. Only Read uses them; crypto/tls never reads concurrently.
	rbuf       *[]byte
	roff, rend int
	rerr       error
}

// Read hands out what was read ahead first; while reading ahead, a short
// read takes up to corkSize from the connection.
func (c *corkConn) Read(p []byte) (int, error) {
	if c.rbuf != nil {
		n := copy(p, (*c.rbuf)[c.roff:c.rend])
		c.roff += n
		if c.roff < c.rend {
			return n, nil
		}
		corkBufs.Put(c.rbuf)
		err := c.rerr
		c.rbuf, c.rerr = nil, nil
		return n, err
	}
	if !c.ahead.Load() || len(p) >= corkSize {
		return c.Conn.Read(p)
	}
	bp := corkBufs.Get().(*[]byte)
	m, err := c.Conn.Read((*bp)[:corkSize])
	n := copy(p, (*bp)[:m])
	if n == m {
		corkBufs.Put(bp)
		return n, err
	}
	c.rbuf, c.roff, c.rend, c.rerr = bp, n, m, err
	return n, nil
}

// readAhead starts reading ahead, until stopReadAhead; what was read ahead
// is handed out after that too.
func (c *corkConn) readAhead() { c.ahead.Store(true) }

func (c *corkConn) stopReadAhead() { c.ahead.Store(false) }

func newCorkConn(c net.Conn) net.Conn { return &corkConn{Conn: c} }

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if !c.corked {
		return c.Conn.Write(p)
	}
	b := *c.buf
	if len(b)+len(p) > cap(b) {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= cap(b) {
			return c.Conn.Write(p)
		}
	}
	*c.buf = append((*c.buf), p...)
	return len(p), nil
}

// flushLocked writes the gathered records; c.mu is held.
func (c *corkConn) flushLocked() error {
	b := *c.buf
	if len(b) == 0 {
		return nil
	}
	_, err := c.Conn.Write(b)
	*c.buf = b[:0]
	if err != nil {
		c.err = err
	}
	return err
}

// cork starts gathering writes; uncork must follow.
func (c *corkConn) cork() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		return
	}
	c.corked, c.buf = true, corkBufs.Get().(*[]byte)
}

// uncork writes what was gathered and lets later writes go straight
// through; a failed write is returned, and fails every later one.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.err
	}
	err := c.flushLocked()
	*c.buf = (*c.buf)[:0]
	corkBufs.Put(c.buf)
	c.corked, c.buf = false, nil
	return err
}

// corkKey is the context key of a request's corkConn.
type corkKey struct{}

// withCorkConn is the registry server's ConnContext: it makes a
// connection's corkConn (under its TLS) reachable from its requests.
func withCorkConn(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		if cc, ok := tc.NetConn().(*corkConn); ok {
			return context.WithValue(ctx, corkKey{}, cc)
		}
	}
	return ctx
}

// corkFrom returns the request's corkConn, or nil when the registry is
// served some other way (a test server, the nodes' proxy).
func corkFrom(ctx context.Context) *corkConn {
	cc, _ := ctx.Value(corkKey{}).(*corkConn)
	return cc
}
