package hostclient

import (
	"context"
	"encoding/pem"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/hostapi"
	"github.com/cobaltbatch/cobalt/internal/hostproto"
	"github.com/cobaltbatch/cobalt/internal/pki/pkitest"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

// TestJoinFailoverRestartRevoke: the agent skips a control-plane URL that
// is down, joins, keeps its identity across a restart without a token, and
// stops with ErrRevoked once its host is removed.
func TestJoinFailoverRestartRevoke(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ca := pkitest.NewCA(t)
	svc, err := hostapi.New(hostapi.Config{Store: st, Heartbeat: time.Second, IssueFilesCert: ca.IssueFor})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(svc.Handler())
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	caPEM = append(caPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw})...)
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	// A port nobody listens on: the first replica is down.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "https://" + l.Addr().String()
	l.Close()
	tok, _, err := svc.CreateJoinToken(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	got := make(chan []hostproto.Node, 16)
	cfg := Config{URLs: []string{down, srv.URL}, Token: tok, CAFile: caFile, DataDir: data, Address: "10.0.0.9", MaxNodes: 5,
		FilesListen: "127.0.0.1:0", OnNodes: func(n []hostproto.Node) { got <- n }}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	<-got // one heartbeat answered
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	h, err := st.HostGet(ctx, a.HostID())
	if err != nil || h.Address != "10.0.0.9" || h.MaxNodes != 5 {
		t.Fatalf("host %+v %v", h, err)
	}
	// The first heartbeat got the file API a certificate for this host's
	// name, kept beside the key for the next start.
	c := a.files.Certificate()
	if c == nil || len(c.Leaf.DNSNames) != 1 || c.Leaf.DNSNames[0] != hostproto.FilesServerName(a.HostID()) {
		t.Fatalf("file API certificate: %+v", c)
	}
	if _, err := os.Stat(filepath.Join(data, filesCertFile)); err != nil {
		t.Fatal(err)
	}
	if a.filesKeyRequest() != nil {
		t.Fatal("a fresh certificate is asked for again")
	}
	// A restart needs no token: the token is spent anyway.
	cfg.Token = ""
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Remove(ctx, a.HostID()); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, time.Minute)
	defer rcancel()
	if err := b.Run(rctx); !errors.Is(err, ErrRevoked) || b.HostID() != a.HostID() {
		t.Fatalf("restarted agent of a removed host: %v (host %q)", err, b.HostID())
	}
}
