package agent

import (
	"errors"
	"net"
	"sync"
	"time"
)

// DefaultMaxLocalConnections bounds the connections one node may hold at
// once to its local endpoints (IMDS and the forwarded control-plane ports
// together). Every one costs the host process descriptors, goroutines and
// buffers that no node cgroup is charged for.
const DefaultMaxLocalConnections = 256

// forwardIdleTimeout closes a forwarded connection that carried nothing in
// either direction for this long.
const forwardIdleTimeout = 5 * time.Minute

// Timeouts of the node-facing IMDS and App Service servers: a node cannot
// keep a connection by sending a request slowly or not at all. Both
// endpoints take GETs without a body, so the whole request gets the headers'
// 10 s: with the two equal, net/http sets one read deadline per request
// instead of two (a deadline costs a timer update: 6 % of IMDS's CPU).
const (
	localReadHeaderTimeout = 10 * time.Second
	localReadTimeout       = localReadHeaderTimeout
	localIdleTimeout       = 30 * time.Second
)

// processConns bounds the node-facing connections of the whole process,
// whatever the number of nodes, so that they leave descriptors to the
// process's own listeners.
var processConns = sync.OnceValue(func() chan struct{} {
	return make(chan struct{}, processConnLimit())
})

// connLimit is one node's bound on concurrent local connections, shared by
// all of its listeners.
type connLimit struct {
	slots chan struct{}
}

// newConnLimit returns a bound of max connections (DefaultMaxLocalConnections
// when max <= 0).
func newConnLimit(max int) *connLimit {
	if max <= 0 {
		max = DefaultMaxLocalConnections
	}
	return &connLimit{slots: make(chan struct{}, max)}
}

// inUse is how many connections the node holds now.
func (l *connLimit) inUse() int { return len(l.slots) }

// listener wraps ln so that Accept waits while the node holds its maximum
// of connections (or the process its own): the pending connections stay in
// the listener's backlog, which is in the node's own network namespace.
func (l *connLimit) listener(ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, lim: l, done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	lim  *connLimit
	done chan struct{}
	once sync.Once
}

var errListenerClosed = errors.New("listener closed")

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.lim.slots <- struct{}{}:
	case <-l.done:
		return nil, errListenerClosed
	}
	proc := processConns()
	select {
	case proc <- struct{}{}:
	case <-l.done:
		<-l.lim.slots
		return nil, errListenerClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-proc
		<-l.lim.slots
		return nil, err
	}
	lc := &limitedConn{Conn: c}
	lc.release = func() { <-proc; <-l.lim.slots }
	return lc, nil
}

func (l *limitedListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitedConn gives its slots back when closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes the connection where it is TCP.
func (c *limitedConn) CloseWrite() error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		return tc.CloseWrite()
	}
	return nil
}
