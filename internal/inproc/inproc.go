// Package inproc is an http.RoundTripper that serves the requests for one
// host:port with a handler of the same process, and sends the others on.
//
// The node agents of `cobalt up`'s own host run in its process and call
// the node API on loopback: the same calls as a remote host's agents, but
// over TLS and HTTP/2 each way, which cost the control plane a fifth of its
// CPU per task. Through this transport they call the handler that serves
// the node API's listener directly: the same handler chain (the node
// credential is checked as for any caller), without the sockets, the
// encryption or the framing.
package inproc

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Transport serves requests for Host with Handler and gives every other
// request to Next (http.DefaultTransport when nil).
type Transport struct {
	// Host is the "host:port" of the handler's listener, as URLs name it.
	Host    string
	Handler http.Handler
	Next    http.RoundTripper

	once sync.Once
	work chan func() // hands a request to an idle worker goroutine
}

// workerIdle is how long a worker goroutine waits for another request
// before it ends.
const workerIdle = 30 * time.Second

// RoundTrip implements http.RoundTripper. The handler runs on a worker
// goroutine (run) with a copy of the request whose context is the
// caller's, so that cancelling the call ends a long poll. The response is complete when
// RoundTrip returns: the node API writes whole JSON bodies.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.EqualFold(req.URL.Host, t.Host) {
		next := t.Next
		if next == nil {
			next = http.DefaultTransport
		}
		return next.RoundTrip(req)
	}
	in := serverRequest(req)
	if req.Body != nil {
		// A transport closes the request's body, whatever happens.
		defer req.Body.Close()
	}
	w := &recorder{header: http.Header{}}
	done := make(chan any, 1)
	t.run(func() {
		defer func() { done <- recover() }()
		t.Handler.ServeHTTP(w, in)
	})
	select {
	case p := <-done:
		if p != nil {
			// As net/http's server does, a handler's panic fails the
			// request, never the process.
			return nil, fmt.Errorf("inproc: the handler of %s %s panicked: %v", req.Method, req.URL.Path, p)
		}
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(bytes.NewReader(w.body.Bytes())), ContentLength: int64(w.body.Len()),
		Request: req,
	}, nil
}

// serverRequest is req as a server hands it to its handler: a path-only
// URL, RequestURI, Host, a remote address and a body that is never nil.
func serverRequest(req *http.Request) *http.Request {
	in := req.Clone(req.Context())
	in.URL.Scheme, in.URL.Host, in.URL.User = "", "", nil
	in.RequestURI = req.URL.RequestURI()
	in.Host = req.URL.Host
	in.RemoteAddr = "127.0.0.1:0"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	return in
}

// recorder is the handler's ResponseWriter: the status, headers and body,
// handed over once the handler returns.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// run runs f on an idle worker goroutine, or on a new one when none is
// idle. The workers outlive their requests so that the deep stack a
// handler needs (the store's SQLite, JSON) is grown once and not on every
// request: a new goroutine starts with a small stack and copies it each
// time it doubles, which cost the node API's handlers 6% of cobalt up's
// CPU in the tasks row when each request had a goroutine of its own.
func (t *Transport) run(f func()) {
	select {
	case t.workQueue() <- f:
	default:
		go t.worker(f)
	}
}

func (t *Transport) workQueue() chan func() {
	t.once.Do(func() { t.work = make(chan func()) })
	return t.work
}

// worker runs f, then the requests handed to it, until it has been idle
// for workerIdle.
func (t *Transport) worker(f func()) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	work := t.workQueue()
	for {
		f()
		idle.Reset(workerIdle)
		select {
		case f = <-work:
		case <-idle.C:
			return
		}
	}
}
