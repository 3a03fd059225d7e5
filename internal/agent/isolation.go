package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"

	"github.com/cobaltbatch/cobalt/internal/imds"
)

// Isolation modes.
const (
	IsolationNetns   = "netns"
	IsolationProcess = "process"
)

// DefaultIsolation is netns when this process can create network namespaces
// (Linux, root), process otherwise.
func DefaultIsolation() string {
	if netnsSupported() {
		return IsolationNetns
	}
	return IsolationProcess
}

// isolation is how a node's tasks are separated from the host and how they
// reach IMDS.
type isolation interface {
	// env is the node-level environment tasks get for their identity.
	env() []string
	// wrap makes cmd run inside the node's isolation.
	wrap(cmd *exec.Cmd)
	// imdsURL is the IMDS base URL as a task sees it.
	imdsURL() string
	// namespace is the network namespace name, "" in process mode.
	namespace() string
	// close stops every listener and removes what the node created.
	close() error
}

// handlers are what a node serves locally.
type handlers struct {
	imds       http.Handler
	appService http.Handler
	// conns bounds the node's concurrent connections to every local
	// endpoint together (nil: DefaultMaxLocalConnections).
	conns *connLimit
}

// limit is h's connection bound.
func (h handlers) limit() *connLimit {
	if h.conns == nil {
		return newConnLimit(0)
	}
	return h.conns
}

// newServer returns an http.Server for a local endpoint: a client that is
// slow to send its request, or keeps an idle connection, is disconnected.
func newServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: localReadHeaderTimeout, ReadTimeout: localReadTimeout,
		IdleTimeout: localIdleTimeout, MaxHeaderBytes: 64 << 10}
}

// processIsolation serves IMDS and the App Service endpoint on loopback
// ports of the host.
type processIsolation struct {
	imdsLn, appLn net.Listener
	servers       []*http.Server
	secret        string
}

func newProcessIsolation(h handlers, secret string) (*processIsolation, error) {
	p := &processIsolation{secret: secret}
	lim := h.limit()
	var err error
	if p.imdsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("imds listener: %w", err)
	}
	if p.appLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		p.imdsLn.Close()
		return nil, fmt.Errorf("app service listener: %w", err)
	}
	for _, x := range []struct {
		ln net.Listener
		h  http.Handler
	}{{p.imdsLn, h.imds}, {p.appLn, h.appService}} {
		srv := newServer(x.h)
		p.servers = append(p.servers, srv)
		ln := lim.listener(x.ln)
		go func() { _ = srv.Serve(ln) }()
	}
	return p, nil
}

func (p *processIsolation) env() []string {
	return []string{
		"IDENTITY_ENDPOINT=http://" + p.appLn.Addr().String() + imds.AppServicePath,
		"IDENTITY_HEADER=" + p.secret,
		"AZURE_POD_IDENTITY_AUTHORITY_HOST=http://" + p.imdsLn.Addr().String(),
	}
}

func (p *processIsolation) wrap(*exec.Cmd) {}

func (p *processIsolation) imdsURL() string { return "http://" + p.imdsLn.Addr().String() }

func (p *processIsolation) namespace() string { return "" }

func (p *processIsolation) close() error {
	var errs []error
	for _, s := range p.servers {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// newSecret returns a random 32-byte hex secret.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
