package hostclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt/internal/hostfiles"
	"github.com/cobaltbatch/cobalt/internal/hostproto"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/pki"
)

// Config configures an agent.
type Config struct {
	// URLs are the control plane's node API base URLs, tried in order.
	URLs []string
	// Token is the one-time join token; needed only for the first start.
	Token string
	// CAFile is the installation's CA certificate (PEM).
	CAFile string
	// DataDir keeps the host's identity and credential.
	DataDir string
	// MaxNodes caps the nodes of this host (0: one per 64 MiB of memory).
	MaxNodes int
	// Name and Address describe the host (defaults: the hostname, and the
	// local address that routes to the control plane).
	Name    string
	Address string
	Logger  *slog.Logger
	// OnNodes, if set, receives the nodes placed on the host after each heartbeat.
	OnNodes func([]hostproto.Node)
	// Provider, if set, runs the nodes placed on the host.
	Provider NodeProvider
	// FilesListen is where the host's file API listens: ADDR:PORT, "" for
	// the host's address and hostproto.FilesPort, FilesListenOff for none.
	FilesListen string
}

// ErrRevoked is returned when the control plane refuses the host's credential.
var ErrRevoked = errors.New("the control plane refused this host's credential: the host was removed (cobalt host remove) or never joined")

// identityFile keeps the host's ID and credential in its data directory.
const identityFile = "host.json"

type identity struct {
	HostID           string `json:"hostId"`
	Credential       string `json:"credential"`
	HeartbeatSeconds int    `json:"heartbeatSeconds"`
}

// Agent is a running host agent.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client
	cur    int // index of the URL in use
	id     identity
	// refused are listed nodes whose credential the control plane would
	// not issue (already issued: the node's persisted credential is lost).
	refused map[string]bool
	pool    *x509.CertPool
	// files is the host's file API (nil when off); filesKey its key.
	files    *hostfiles.Server
	filesKey *ecdsa.PrivateKey
}

// New validates cfg and loads the CA.
func New(cfg Config) (*Agent, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("hostclient: at least one control-plane URL is required")
	}
	for _, u := range cfg.URLs {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme != "https" || pu.Host == "" {
			return nil, fmt.Errorf("control-plane URL %q: want https://HOST:PORT", u)
		}
	}
	if cfg.DataDir == "" {
		return nil, errors.New("hostclient: a data directory is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pem, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA certificate %s holds no PEM certificate", cfg.CAFile)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool},
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	return &Agent{cfg: cfg, log: cfg.Logger, client: &http.Client{Transport: tr, Timeout: 15 * time.Second}, refused: map[string]bool{}, pool: pool}, nil
}

// HostID returns the host's ID once it has joined.
func (a *Agent) HostID() string { return a.id.HostID }

// Run joins (unless the data directory holds an identity) and heartbeats
// until ctx is done (nil) or the host is revoked (ErrRevoked).
func (a *Agent) Run(ctx context.Context) error {
	if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
		return err
	}
	if err := a.loadOrJoin(ctx); err != nil {
		return err
	}
	if err := a.startFiles(ctx); err != nil {
		return err
	}
	a.log.Info("host agent running", logkey.Host, a.id.HostID)
	interval := time.Duration(max(1, a.id.HeartbeatSeconds)) * time.Second
	for {
		err := a.heartbeat(ctx)
		if errors.Is(err, ErrRevoked) {
			return err
		}
		if err != nil && ctx.Err() == nil {
			a.log.Warn("heartbeat failed", logkey.URL, a.cfg.URLs[a.cur], logkey.Err, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

func (a *Agent) loadOrJoin(ctx context.Context) error {
	path := filepath.Join(a.cfg.DataDir, identityFile)
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &a.id); err != nil || a.id.HostID == "" || a.id.Credential == "" {
			return fmt.Errorf("%s is damaged; remove it and join with a new token", path)
		}
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if a.cfg.Token == "" {
		return errors.New("this host has not joined yet: pass --token (from `cobalt host token create`)")
	}
	req := hostproto.JoinRequest{Token: a.cfg.Token, Name: a.name(), Address: a.address(), Capacity: a.capacity()}
	var resp hostproto.JoinResponse
	if err := a.call(ctx, hostproto.JoinPath, "", req, &resp); err != nil {
		if errors.Is(err, ErrRevoked) {
			return errors.New("the control plane refused the join token: unknown, used or expired")
		}
		return err
	}
	a.id = identity{HostID: resp.HostID, Credential: resp.Credential, HeartbeatSeconds: resp.HeartbeatSeconds}
	b, _ := json.Marshal(a.id)
	return pki.WriteFileAtomic(path, b, 0o600)
}

func (a *Agent) heartbeat(ctx context.Context) error {
	req := hostproto.HeartbeatRequest{Capacity: a.capacity(), FilesKey: a.filesKeyRequest()}
	if a.cfg.Provider != nil {
		req.Nodes = a.cfg.Provider.Nodes()
	}
	var resp hostproto.HeartbeatResponse
	if err := a.call(ctx, hostproto.HeartbeatPath, a.id.Credential, req, &resp); err != nil {
		return err
	}
	if len(req.FilesKey) > 0 && len(resp.FilesCertificate) > 0 {
		if err := a.useFilesCert(resp.FilesCertificate, true); err != nil {
			a.log.Warn("file API certificate refused", logkey.Err, err)
		} else {
			a.log.Info("file API certificate issued", logkey.Host, a.id.HostID)
		}
	}
	if a.cfg.Provider != nil {
		a.reconcileNodes(ctx, resp.Nodes)
	}
	if a.cfg.OnNodes != nil {
		a.cfg.OnNodes(resp.Nodes)
	}
	return nil
}

// call POSTs to the URL in use; on a network failure or a 5xx it tries the
// next URLs in turn, and keeps the first that answers.
func (a *Agent) call(ctx context.Context, path, cred string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	var errs []error
	for i := range a.cfg.URLs {
		idx := (a.cur + i) % len(a.cfg.URLs)
		err := a.post(ctx, strings.TrimSuffix(a.cfg.URLs[idx], "/")+path, cred, body, out)
		var retry *retryable
		if err == nil || !errors.As(err, &retry) {
			if err == nil && idx != a.cur {
				a.log.Info("control plane URL changed", logkey.URL, a.cfg.URLs[idx])
				a.cur = idx
			}
			return err
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// retryable marks a failure another control-plane URL may not have.
type retryable struct{ err error }

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

func (a *Agent) post(ctx context.Context, u, cred string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return &retryable{err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return &retryable{err}
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return ErrRevoked
	case resp.StatusCode >= 500:
		return &retryable{fmt.Errorf("%s: %s", u, resp.Status)}
	case resp.StatusCode != http.StatusOK:
		var e nodeproto.Error
		_ = json.Unmarshal(b, &e)
		return fmt.Errorf("%s: %s: %s %s", u, resp.Status, e.Code, e.Message)
	}
	return json.Unmarshal(b, out)
}

func (a *Agent) name() string {
	if a.cfg.Name != "" {
		return a.cfg.Name
	}
	n, err := os.Hostname()
	if err != nil || n == "" {
		return "host"
	}
	return n
}

// address is the configured address, else the local address that routes
// to the first control-plane URL (a UDP "connection" sends nothing).
func (a *Agent) address() string {
	if a.cfg.Address != "" {
		return a.cfg.Address
	}
	pu, _ := url.Parse(a.cfg.URLs[0])
	port := pu.Port()
	if port == "" {
		port = "443"
	}
	c, err := net.Dial("udp", net.JoinHostPort(pu.Hostname(), port))
	if err != nil {
		return "127.0.0.1"
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}

func (a *Agent) capacity() hostproto.Capacity {
	mem := memTotal()
	maxNodes := a.cfg.MaxNodes
	if maxNodes <= 0 {
		maxNodes = int(min(max(mem/(64<<20), 16), 4096))
	}
	return hostproto.Capacity{Cores: runtime.NumCPU(), MemoryBytes: mem, MaxNodes: maxNodes}
}

// memTotal reads MemTotal from /proc/meminfo (0 when unknown).
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
