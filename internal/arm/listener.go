package arm

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"strconv"
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
	// Socket deadlines are the kernel's wall clock, not Config.Now.
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

// lineFixConn follows the HTTP/1.1 framing of the requests it carries, so
// that it knows where each request line starts: it fixes that line, passes
// the header block on, then passes exactly Content-Length bytes of body. A
// chunked (or otherwise unframed) body ends the rewriting for the connection,
// whose bytes then pass unchanged.
type lineFixConn struct {
	net.Conn
	r       *bufio.Reader
	pending []byte
	body    int64 // body bytes still to pass before the next request line
	opaque  bool  // framing lost: pass everything unchanged
}

// maxRequestHead bounds a request line with its header block; a longer one
// is passed on unchanged for net/http to refuse.
const maxRequestHead = 1 << 20

func (c *lineFixConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		if err := c.next(); err != nil && len(c.pending) == 0 {
			return 0, err
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// next fills pending with the next piece of the stream.
func (c *lineFixConn) next() error {
	if _, err := c.r.Peek(1); err != nil {
		return err
	}
	if c.opaque || c.body > 0 {
		n := int64(c.r.Buffered())
		if !c.opaque && n > c.body {
			n = c.body
		}
		c.pending = c.take(int(n))
		if !c.opaque {
			c.body -= n
		}
		return nil
	}
	// At a request boundary: the client sends a whole request head before it
	// waits for anything, so waiting for it cannot deadlock.
	head, err := c.readHead()
	if err != nil {
		c.pending = head
		c.opaque = true
		return err
	}
	// head is this connection's own copy, and the fix keeps the length:
	// the request line is fixed in place.
	start, end := requestLineBounds(head)
	if fixed := fixRequestLine(head[start:end]); len(fixed) == end-start {
		copy(head[start:end], fixed)
	} else {
		head = append(append(append([]byte(nil), head[:start]...), fixed...), head[end:]...)
	}
	c.pending = head
	c.body, c.opaque = bodyLength(head[end:])
	return nil
}

// readHead reads up to and including the blank line that ends a request's
// header block (blank lines before the request line included). On failure it
// returns what it read.
func (c *lineFixConn) readHead() ([]byte, error) {
	head := make([]byte, 0, max(512, c.r.Buffered())) // usually the whole head is buffered
	lines := 0                                        // complete non-blank lines read
	for {
		line, err := c.r.ReadSlice('\n')
		head = append(head, line...)
		if len(head) > maxRequestHead {
			return head, bufio.ErrBufferFull
		}
		if err == bufio.ErrBufferFull {
			continue // the rest of a long line follows
		}
		if err != nil {
			return head, err
		}
		if string(line) != "\r\n" && string(line) != "\n" {
			lines++
			continue
		}
		if lines > 0 && bytes.HasSuffix(head[:len(head)-len(line)], []byte("\n")) {
			return head, nil
		}
	}
}

// requestLineBounds returns where the request line starts and ends in a
// request head (after any blank lines that precede it).
func requestLineBounds(head []byte) (start, end int) {
	for start < len(head) && (head[start] == '\r' || head[start] == '\n') {
		start++
	}
	end = start + bytes.IndexByte(head[start:], '\n') + 1
	return start, end
}

// bodyLength reads the framing of a request from its header block: the
// Content-Length, or opaque for a chunked or unknown framing.
func bodyLength(headers []byte) (n int64, opaque bool) {
	for rest := headers; len(rest) > 0; {
		l := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			l, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		name, value, ok := bytes.Cut(bytes.TrimRight(l, "\r"), []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		switch {
		case asciiEqualFold(name, "transfer-encoding"), asciiEqualFold(name, "upgrade"):
			return 0, true
		case asciiEqualFold(name, "content-length"):
			v, err := strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64)
			if err != nil || v < 0 {
				return 0, true
			}
			n = v
		}
	}
	return n, false
}

// asciiEqualFold reports whether b is lower, a lower-case ASCII name, in
// any ASCII case (header names are ASCII tokens; no Unicode folding).
func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// take removes n buffered bytes and returns a copy of them.
func (c *lineFixConn) take(n int) []byte {
	buf, _ := c.r.Peek(n)
	out := append([]byte(nil), buf...)
	_, _ = c.r.Discard(n)
	return out
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
