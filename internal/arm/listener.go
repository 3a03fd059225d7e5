package arm

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
)

// NewListener returns the TLS listener the front door should be served on
// (http.Server.Serve, not ServeTLS). It exists because the Go SDK
// (armauthorization and others) sends OData $filter values unencoded, so
// that a request line reads
//
//	GET /subscriptions/s/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=principalId eq 'x' HTTP/1.1
//
// which Azure accepts and net/http rejects as malformed. The listener's
// connections rewrite the spaces in the query of such request lines to '+'
// (a space in form encoding) before net/http parses them; nothing else is
// changed, and the rewrite keeps the byte count. HTTP/2 is not offered
// (ALPN http/1.1), because the rewrite applies to HTTP/1.1 request lines.
func NewListener(inner net.Listener, cfg *tls.Config) net.Listener {
	c := cfg.Clone()
	c.NextProtos = []string{"http/1.1"}
	return &lineFixListener{Listener: tls.NewListener(inner, c)}
}

type lineFixListener struct{ net.Listener }

func (l *lineFixListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lineFixConn{Conn: c, r: bufio.NewReaderSize(c, 16<<10)}, nil
}

// lineFixConn hands the stream to net/http a line at a time, fixing request
// lines on the way.
type lineFixConn struct {
	net.Conn
	r       *bufio.Reader
	pending []byte
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
		line := make([]byte, n)
		copy(line, buf[:n])
		_, _ = c.r.Discard(n)
		c.pending = fixRequestLine(line)
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
