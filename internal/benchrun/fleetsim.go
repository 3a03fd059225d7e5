package benchrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// fleet is a simulated fleet: hosts whose nodes speak the real node
// protocol (register, heartbeat, lease, report) over HTTPS to a control
// plane started with --isolation external, and execute leased tasks by
// reporting them started and completed at once. It finds the nodes the
// allocator placed on its host in the control plane's credential
// directory, as a host agent finds the nodes given to it.
type fleet struct {
	base      string // the node API's https://127.0.0.1:PORT
	credDir   string // DATA/nodes/.credentials
	interval  time.Duration
	hosts     []*http.Client
	nextHost  int
	nodes     map[string]bool
	idle      atomic.Int64 // nodes whose first idle heartbeat was accepted
	completed atomic.Int64 // tasks reported completed

	mu        sync.Mutex
	measuring bool
	hb, lease []time.Duration
	hbErr     int
	leaseErr  int
	lastErr   string
	wg        sync.WaitGroup
}

// newFleet returns a fleet of hosts simulated hosts for the control plane
// whose node API listens at base, trusting the CA in caFile.
func newFleet(base, credDir, caFile string, hosts int, interval time.Duration) (*fleet, error) {
	f := &fleet{base: base, credDir: credDir, interval: interval, nodes: map[string]bool{}}
	for range hosts {
		// Each host's nodes share the client a real host agent gives its
		// agents (agent.NewHTTPClient): one TLS connection, HTTP/2, whose
		// streams let a lease pass a heartbeat still being answered.
		c, err := agent.NewHTTPClient(caFile)
		if err != nil {
			return nil, err
		}
		c.Timeout = time.Minute
		f.hosts = append(f.hosts, c)
	}
	return f, nil
}

// run discovers new nodes and plays each until ctx ends. It looks every
// 100 ms while nodes arrive and backs off to every 2 s once none does:
// listing 10,000 credentials ten times a second was a tenth of the
// simulator's CPU in the measurement window, when no node arrives.
func (f *fleet) run(ctx context.Context) {
	wait := 100 * time.Millisecond
	for {
		found := false
		ents, _ := os.ReadDir(f.credDir)
		for _, e := range ents {
			id := e.Name()
			if f.nodes[id] || strings.HasPrefix(id, ".") || strings.Contains(id, ".") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(f.credDir, id))
			cred := strings.TrimSpace(string(b))
			if err != nil || cred == "" {
				continue
			}
			f.nodes[id], found = true, true
			c := f.hosts[f.nextHost%len(f.hosts)]
			f.nextHost++
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.playNode(ctx, c, id, cred)
			}()
		}
		if found {
			wait = 100 * time.Millisecond
		} else {
			wait = min(2*wait, 2*time.Second)
		}
		if sleepCtx(ctx, wait) != nil {
			f.wg.Wait()
			return
		}
	}
}

// measure starts (on) or stops recording latencies; starting clears them.
func (f *fleet) measure(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on {
		f.hb, f.lease, f.hbErr, f.leaseErr, f.lastErr = nil, nil, 0, 0, ""
	}
	f.measuring = on
}

func (f *fleet) record(kind string, d time.Duration, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.measuring {
		return
	}
	switch {
	case err != nil && kind == "heartbeat":
		f.hbErr++
		f.lastErr = err.Error()
	case err != nil:
		f.leaseErr++
		f.lastErr = err.Error()
	case kind == "heartbeat":
		f.hb = append(f.hb, d)
	default:
		f.lease = append(f.lease, d)
	}
}

// fleetStats are the figures of one measurement window.
type fleetStats struct {
	hb, lease       []time.Duration
	hbErr, leaseErr int
	lastErr         string
}

func (f *fleet) stats() fleetStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := fleetStats{hb: slices.Clone(f.hb), lease: slices.Clone(f.lease), hbErr: f.hbErr, leaseErr: f.leaseErr, lastErr: f.lastErr}
	slices.Sort(s.hb)
	slices.Sort(s.lease)
	return s
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// playNode registers a node, then every interval sends a heartbeat and,
// half an interval later, a lease for its one slot that does not wait
// (waitSeconds 0); a leased task is reported started and completed at once.
// It returns when ctx ends or the control plane removes the node.
func (f *fleet) playNode(ctx context.Context, c *http.Client, id, cred string) {
	for {
		err := f.call(ctx, c, cred, nodeproto.PathRegister, nodeproto.RegisterRequest{NodeID: id, AgentVersion: "fleetsim", Hostname: id, Isolation: "process"}, nil)
		if err == nil {
			break
		}
		if ctx.Err() != nil || isGone(err) {
			return
		}
		if sleepCtx(ctx, time.Second) != nil {
			return
		}
	}
	idle := false
	for ctx.Err() == nil {
		// A real agent's heartbeats follow a ticker and its leases a loop of
		// their own (internal/agent/loops.go): neither waits for the other's
		// answer. So the lease is due half an interval after the heartbeat
		// was sent, not after it was answered: heartbeats answered together
		// (their batched write committed) would otherwise send their leases
		// together, a burst no fleet of independent agents makes.
		start := time.Now()
		next, leaseAt := start.Add(f.interval), start.Add(f.interval/2)
		var hr nodeproto.HeartbeatResponse
		err := f.call(ctx, c, cred, nodeproto.PathHeartbeat, nodeproto.HeartbeatRequest{NodeID: id, State: "idle"}, &hr)
		if ctx.Err() != nil || isGone(err) || slices.Contains(hr.Commands, "remove") {
			return
		}
		f.record("heartbeat", time.Since(start), err)
		if err == nil && !idle {
			// The first heartbeat follows the registration, as an agent's
			// does; after it the fleet's heartbeats spread over the
			// interval, as those of agents started at different times are.
			idle = true
			f.idle.Add(1)
			next = time.Now().Add(rand.N(f.interval))
			leaseAt = time.Now().Add(f.interval / 2)
		}
		if sleepCtx(ctx, time.Until(leaseAt)) != nil {
			return
		}
		var lr nodeproto.LeaseResponse
		start = time.Now()
		err = f.call(ctx, c, cred, nodeproto.PathLease, nodeproto.LeaseRequest{NodeID: id, FreeSlots: 1}, &lr)
		if ctx.Err() != nil || isGone(err) {
			return
		}
		f.record("lease", time.Since(start), err)
		for _, l := range lr.Leases {
			now := time.Now().UTC()
			exit := 0
			if f.call(ctx, c, cred, nodeproto.PathReport, nodeproto.ReportRequest{NodeID: id, LeaseID: l.LeaseID, Event: "started", StartTime: now}, nil) == nil &&
				f.call(ctx, c, cred, nodeproto.PathReport, nodeproto.ReportRequest{NodeID: id, LeaseID: l.LeaseID, Event: "completed", StartTime: now, EndTime: &now, ExitCode: &exit}, nil) == nil {
				f.completed.Add(1)
			}
		}
		if sleepCtx(ctx, time.Until(next)) != nil {
			return
		}
	}
}

// protoError is a node API answer other than 200.
type protoError struct {
	status int
	body   nodeproto.Error
}

func (e *protoError) Error() string {
	return fmt.Sprintf("status %d: %s: %s", e.status, e.body.Code, e.body.Message)
}

// isGone reports whether the control plane no longer knows the node.
func isGone(err error) bool {
	pe, ok := err.(*protoError)
	return ok && (pe.status == http.StatusUnauthorized || pe.body.Code == "NodeRemoved")
}

// call POSTs one node protocol request with the node's credential.
func (f *fleet) call(ctx context.Context, c *http.Client, cred, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+cred)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		pe := &protoError{status: resp.StatusCode}
		_ = json.Unmarshal(body, &pe.body)
		return pe
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}
