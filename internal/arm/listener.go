package arm

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// NewListener returns the TLS listener the front door should be served on
// with http.Server.Serve (not ServeTLS; set the server's TLSConfig to cfg so
// that it speaks HTTP/2 where negotiated). It exists because the Go SDK
// (armauthorization and others) sends OData $filter values unencoded, so
// that over HTTP/1.1 a request line reads
//
//	GET /subscriptions/s/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=principalId eq 'x' HTTP/1.1
//
// which Azure accepts and net/http rejects as malformed. Connections that
// negotiate HTTP/1.1 rewrite the spaces in the query of such request lines
// to '+' (a space in form encoding) before net/http parses them; nothing else
// is changed, and the rewrite keeps the byte count. Connections that
// negotiate h2 are passed on as they are (HTTP/2 carries the path in a
// header, which net/http accepts with spaces). TLS handshakes run on their
// own goroutines with a 10-second limit, so a slow client holds up no other.
func NewListener(inner net.Listener, cfg *tls.Config) net.Listener {
	l := &lineFixListener{inner: inner, cfg: cfg.Clone(), conns: make(chan net.Conn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

type lineFixListener struct {
	inner net.Listener
	cfg   *tls.Config
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	err   error // the inner listener's error, set before done is closed
}

func (l *lineFixListener) acceptLoop() {
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			l.once.Do(func() { l.err = err; close(l.done) })
			return
		}
		go l.handshake(raw)
	}
}

func (l *lineFixListener) handshake(raw net.Conn) {
	tc := tls.Server(raw, l.cfg)
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		_ = tc.Close()
		return
	}
	_ = tc.SetDeadline(time.Time{})
	var c net.Conn = tc
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		c = &lineFixConn{Conn: tc, r: bufio.NewReaderSize(tc, 16<<10)}
	}
	select {
	case l.conns <- c:
	case <-l.done:
		_ = tc.Close()
	}
}

// Accept returns the next connection whose TLS handshake has completed.
func (l *lineFixListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

// Close stops the listener.
func (l *lineFixListener) Close() error {
	err := l.inner.Close()
	l.once.Do(func() { close(l.done) })
	return err
}

// Addr returns the listener's address.
func (l *lineFixListener) Addr() net.Addr { return l.inner.Addr() }

// lineFixConn hands the stream to net/http a line at a time, fixing request
// lines on the way.
type lineFixConn struct {
	net.Conn
	r       *bufio.Reader
	pending []byte
}

// take removes n buffered bytes and returns a copy of them.
func (c *lineFixConn) take(n int) []byte {
	buf, _ := c.r.Peek(n)
	out := append([]byte(nil), buf...)
	_, _ = c.r.Discard(n)
	return out
}

// maxRequestLine bounds how far a request line is awaited before it is
// passed on unchanged.
const maxRequestLine = 16 << 10

func (c *lineFixConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		if c.r.Buffered() == 0 {
			if _, err := c.r.Peek(1); err != nil {
				return 0, err
			}
		}
		buf, _ := c.r.Peek(c.r.Buffered())
		i := bytes.IndexByte(buf, '\n')
		// A request line that has not fully arrived is awaited, so that it is
		// fixed whole; anything else is passed on as it comes.
		for i < 0 && looksLikeRequestStart(buf) && len(buf) < maxRequestLine {
			more, err := c.r.Peek(len(buf) + 1)
			if err != nil {
				break
			}
			buf, _ = c.r.Peek(max(len(more), c.r.Buffered()))
			i = bytes.IndexByte(buf, '\n')
		}
		n := len(buf)
		if i >= 0 {
			n = i + 1
		}
		line := c.take(n)
		c.pending = fixRequestLine(line)
		if i >= 0 && looksLikeRequestStart(line) {
			// The header block after a request line needs no fixing: pass
			// what has arrived of it along in the same read.
			rest, _ := c.r.Peek(c.r.Buffered())
			if j := bytes.Index(rest, []byte("\r\n\r\n")); j >= 0 {
				c.pending = append(c.pending, c.take(j+4)...)
			} else if len(rest) > 0 && bytes.HasSuffix(rest, []byte("\n")) {
				c.pending = append(c.pending, c.take(len(rest))...)
			}
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

var methods = [][]byte{[]byte("GET "), []byte("PUT "), []byte("POST "), []byte("PATCH "), []byte("DELETE "), []byte("HEAD "), []byte("OPTIONS ")}

func looksLikeRequestStart(b []byte) bool {
	for _, m := range methods {
		if bytes.HasPrefix(b, m) && len(b) > len(m) && b[len(m)] == '/' {
			return true
		}
	}
	return false
}

// fixRequestLine replaces the spaces in the query of a request line
// ("METHOD /path?query HTTP/1.x\r\n") with '+'. Any other line is returned as is.
func fixRequestLine(line []byte) []byte {
	if !looksLikeRequestStart(line) || !bytes.HasSuffix(line, []byte("\n")) {
		return line
	}
	body := bytes.TrimRight(line, "\r\n")
	j := bytes.LastIndexByte(body, ' ')
	if j < 0 || !bytes.HasPrefix(body[j+1:], []byte("HTTP/1.")) {
		return line
	}
	first := bytes.IndexByte(body, ' ')
	target := body[first+1 : j]
	q := bytes.IndexByte(target, '?')
	if q < 0 || bytes.IndexByte(target[q:], ' ') < 0 {
		return line
	}
	out := append([]byte(nil), line...)
	for k := first + 1 + q; k < j; k++ {
		if out[k] == ' ' {
			out[k] = '+'
		}
	}
	return out
}
