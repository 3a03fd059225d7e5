package agent

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// fakeControlPlane is an in-test implementation of the node API (a test
// double of internal/nodeapi and the jobs service): it registers one node with
// a fixed configuration, records heartbeats, reports and token requests,
// hands out queued leases and queued heartbeat commands.
type fakeControlPlane struct {
	t      testing.TB
	srv    *httptest.Server
	caFile string
	cred   string

	mu         sync.Mutex
	config     nodeproto.NodeConfig
	states     []string
	startInfos []nodeproto.StartTaskInfo
	nodeErrors []nodeproto.NodeError // the last heartbeat's
	leases     []nodeproto.TaskLease
	leaseReqs  []nodeproto.LeaseRequest
	commands   []string
	releases   []nodeproto.JobTask // sent with every heartbeat
	heartbeats int
	// heartbeatDown makes heartbeats fail as a control plane out of reach.
	heartbeatDown bool
	reports       []nodeproto.ReportRequest
	// batches are the PathReports requests; singleOnly answers them 404,
	// as a control plane of an earlier release does.
	batches    []nodeproto.ReportsRequest
	singleOnly bool
	tokenReqs  []nodeproto.TokenRequest
	tokenSeq   int
	registers  int
	tokenLife  time.Duration
	tokenErr   *nodeproto.Error
	tokenErrSt int
	changed    chan struct{}
	fakeToken  http.HandlerFunc
	// issue, when set, issues tokens instead of the built-in fake tokens.
	issue func(ctx context.Context, id nodeproto.Identity, r nodeproto.TokenRequest) (nodeproto.TokenResponse, error)
}

func newFakeControlPlane(t testing.TB, cfg nodeproto.NodeConfig) *fakeControlPlane {
	f := &fakeControlPlane{t: t, config: cfg, cred: "node-credential-1", tokenLife: time.Hour, changed: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+nodeproto.PathRegister, f.handle(func(body []byte) (any, int) {
		var r nodeproto.RegisterRequest
		_ = json.Unmarshal(body, &r)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.registers++
		// As POOLS does: a pending reboot is cleared when the agent registers.
		var keep []string
		for _, c := range f.commands {
			if c != "reboot" {
				keep = append(keep, c)
			}
		}
		f.commands = keep
		c := f.config
		c.NodeID = r.NodeID
		return nodeproto.RegisterResponse{Config: c}, 200
	}))
	mux.HandleFunc("POST "+nodeproto.PathHeartbeat, f.handle(func(body []byte) (any, int) {
		var r nodeproto.HeartbeatRequest
		_ = json.Unmarshal(body, &r)
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.heartbeatDown {
			return nodeproto.Error{Code: "ServerBusy", Message: "out of reach"}, 503
		}
		if len(f.states) == 0 || f.states[len(f.states)-1] != r.State {
			f.states = append(f.states, r.State)
		}
		if r.StartTaskInfo != nil {
			f.startInfos = append(f.startInfos, *r.StartTaskInfo)
		}
		f.nodeErrors = r.Errors
		f.heartbeats++
		// Commands are one-shot, except reboot, which stays until the agent
		// registers again (as the pool service does).
		cmds := f.commands
		f.commands = nil
		for _, c := range cmds {
			if c == "reboot" {
				f.commands = append(f.commands, c)
			}
		}
		return nodeproto.HeartbeatResponse{Commands: cmds, JobReleases: f.releases}, 200
	}))
	mux.HandleFunc("POST "+nodeproto.PathLease, f.handle(func(body []byte) (any, int) {
		var r nodeproto.LeaseRequest
		_ = json.Unmarshal(body, &r)
		deadline := time.Now().Add(time.Duration(r.WaitSeconds) * time.Second)
		for {
			f.mu.Lock()
			f.leaseReqs = append(f.leaseReqs, r)
			if out := f.takeLeasesLocked(r.FreeSlots); len(out) > 0 {
				f.mu.Unlock()
				return nodeproto.LeaseResponse{Leases: out}, 200
			}
			f.mu.Unlock()
			if time.Now().After(deadline) {
				return nodeproto.LeaseResponse{}, 200
			}
			time.Sleep(20 * time.Millisecond)
		}
	}))
	mux.HandleFunc("POST "+nodeproto.PathReport, f.handle(func(body []byte) (any, int) {
		var r nodeproto.ReportRequest
		_ = json.Unmarshal(body, &r)
		f.mu.Lock()
		f.recordReportLocked(r)
		f.mu.Unlock()
		return nodeproto.ReportResponse{}, 200
	}))
	mux.HandleFunc("POST "+nodeproto.PathReports, func(w http.ResponseWriter, req *http.Request) {
		f.mu.Lock()
		single := f.singleOnly
		f.mu.Unlock()
		if single {
			http.NotFound(w, req)
			return
		}
		f.handle(func(body []byte) (any, int) {
			var r nodeproto.ReportsRequest
			_ = json.Unmarshal(body, &r)
			f.mu.Lock()
			defer f.mu.Unlock()
			f.batches = append(f.batches, r)
			for _, rep := range r.Reports {
				f.recordReportLocked(rep)
			}
			return nodeproto.ReportsResponse{Leases: f.takeLeasesLocked(r.FreeSlots)}, 200
		})(w, req)
	})
	mux.HandleFunc("POST "+nodeproto.PathToken, func(w http.ResponseWriter, req *http.Request) {
		if f.issue == nil {
			f.fakeToken(w, req)
			return
		}
		var r nodeproto.TokenRequest
		_ = json.NewDecoder(req.Body).Decode(&r)
		var id nodeproto.Identity
		for _, i := range f.config.Identities {
			if strings.EqualFold(i.ResourceID, r.ResourceID) {
				id = i
			}
		}
		resp, err := f.issue(req.Context(), id, r)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(500)
			_ = json.NewEncoder(w).Encode(nodeproto.Error{Code: "Internal", Message: err.Error()})
			return
		}
		_ = json.NewEncoder(w).Encode(resp)
	})
	f.fakeToken = f.handle(func(body []byte) (any, int) {
		var r nodeproto.TokenRequest
		_ = json.Unmarshal(body, &r)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.tokenReqs = append(f.tokenReqs, r)
		if f.tokenErr != nil {
			return f.tokenErr, f.tokenErrSt
		}
		var id *nodeproto.Identity
		for i := range f.config.Identities {
			if strings.EqualFold(f.config.Identities[i].ResourceID, r.ResourceID) {
				id = &f.config.Identities[i]
			}
		}
		if id == nil {
			return nodeproto.Error{Code: "IdentityNotFound", Message: "no such identity"}, 400
		}
		f.tokenSeq++
		now := time.Now().Truncate(time.Second)
		return nodeproto.TokenResponse{
			AccessToken: fmt.Sprintf("tok-%d-%s-%s", f.tokenSeq, id.ClientID, r.Resource),
			IssuedAt:    now, NotBefore: now, ExpiresOn: now.Add(f.tokenLife),
			Resource: r.Resource, Identity: *id,
		}, 200
	})
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "pong") })
	f.srv = httptest.NewTLSServer(mux)
	t.Cleanup(f.srv.Close)
	f.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(f.srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	f.mu.Lock()
	f.config.ForwardPorts = append(f.config.ForwardPorts, p)
	f.mu.Unlock()
	return f
}

// takeLeasesLocked hands out up to free queued leases.
func (f *fakeControlPlane) takeLeasesLocked(free int) []nodeproto.TaskLease {
	n := max(min(len(f.leases), free), 0)
	out := f.leases[:n:n]
	f.leases = f.leases[n:]
	return out
}

// recordReportLocked records a task report.
func (f *fakeControlPlane) recordReportLocked(r nodeproto.ReportRequest) {
	f.reports = append(f.reports, r)
}

func (f *fakeControlPlane) handle(fn func([]byte) (any, int)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.cred {
			w.WriteHeader(401)
			_ = json.NewEncoder(w).Encode(nodeproto.Error{Code: "Unauthorized", Message: "bad credential"})
			return
		}
		body, _ := io.ReadAll(r.Body)
		out, status := fn(body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(out)
		select {
		case f.changed <- struct{}{}:
		default:
		}
	}
}

// waitFor polls cond (under the fake's lock) until it holds or 30 s pass.
func (f *fakeControlPlane) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		ok := cond()
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-f.changed:
		case <-time.After(20 * time.Millisecond):
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t.Fatalf("timed out waiting for %s; states %v, reports %+v", what, f.states, f.reports)
}

func (f *fakeControlPlane) completed(leaseID string) *nodeproto.ReportRequest {
	for i := range f.reports {
		if f.reports[i].LeaseID == leaseID && f.reports[i].Event == "completed" {
			return &f.reports[i]
		}
	}
	return nil
}

// taskOutput reads a finished task's stdout and stderr.
func taskOutput(t testing.TB, a *Agent, jobID, taskID string) (string, string) {
	t.Helper()
	dir := TaskDir(a.Dirs(), jobID, taskID)
	out, _ := os.ReadFile(filepath.Join(dir, "stdout.txt"))
	errb, _ := os.ReadFile(filepath.Join(dir, "stderr.txt"))
	return string(out), string(errb)
}
