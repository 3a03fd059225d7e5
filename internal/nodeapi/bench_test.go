package nodeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/arm/batchprovider"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/pki/pkitest"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

// agentProvider is a NodeProvider whose nodes are minimal agents: each
// registers and reports idle over the node API at once, as a real agent
// does before it runs anything.
type agentProvider struct {
	url    string
	client *http.Client
	idle   chan string
}

func (a *agentProvider) post(cred, path string, req, resp any) error {
	b, _ := json.Marshal(req)
	hr, _ := http.NewRequest("POST", a.url+path, bytes.NewReader(b))
	hr.Header.Set("Authorization", "Bearer "+cred)
	r, err := a.client.Do(hr)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	if r.StatusCode != 200 {
		return cobalt.Errorf(cobalt.EInternal, "%s: status %d", path, r.StatusCode)
	}
	return json.NewDecoder(r.Body).Decode(resp)
}

func (a *agentProvider) agent(l batch.NodeLaunch) error {
	var reg nodeproto.RegisterResponse
	if err := a.post(l.Credential, nodeproto.PathRegister, nodeproto.RegisterRequest{NodeID: l.NodeID, Isolation: "process"}, &reg); err != nil {
		return err
	}
	var hb nodeproto.HeartbeatResponse
	return a.post(l.Credential, nodeproto.PathHeartbeat, nodeproto.HeartbeatRequest{NodeID: l.NodeID, State: "idle"}, &hb)
}

func (a *agentProvider) StartNode(_ context.Context, l batch.NodeLaunch) error {
	go func() {
		if err := a.agent(l); err == nil {
			a.idle <- l.NodeID
		}
	}()
	return nil
}

func (a *agentProvider) StopNode(context.Context, string) error { return nil }

// BenchmarkPoolToTenIdleNodes measures the time from a pool PUT (the
// management-plane write, PoolPut) with targetDedicatedNodes 10 to ten idle
// nodes, with the allocator running and agents that register over HTTPS at
// once. Baseline, same run: the same 20 node-API calls (register and
// heartbeat of ten nodes, ten at a time) on nodes that already exist, which
// is the floor the allocator adds to. Target: < 2 s.
func BenchmarkPoolToTenIdleNodes(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "cobalt.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ca := pkitest.NewCA(b)
	prov := &agentProvider{idle: make(chan string, 100)}
	svc, err := batch.New(batch.Config{Store: st, Nodes: prov, MaxNodes: 64})
	if err != nil {
		b.Fatal(err)
	}
	api, err := New(Config{Pools: svc})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(api.Handler())
	srv.TLS = ca.ServerTLSConfig()
	srv.StartTLS()
	defer srv.Close()
	prov.url = srv.URL
	prov.client = &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientTLSConfig(), MaxIdleConnsPerHost: 32}}
	acct := &cobalt.Account{ID: acctID, Name: "acct1", TenantID: "t1"}
	if _, _, err := svc.AccountCreate(context.Background(), acct); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = svc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	var total, baseline time.Duration
	for i := range b.N {
		pool := "bench" + strings.Repeat("x", i%3) + time.Now().Format("150405.000000")
		pool = strings.ReplaceAll(pool, ".", "_")
		spec, err := batchprovider.DecodeARMPool(poolBody(10))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, _, _, err := svc.PoolPut(ctx, acct, pool, spec, batch.Conditions{}); err != nil {
			b.Fatal(err)
		}
		for range 10 {
			select {
			case <-prov.idle:
			case <-time.After(30 * time.Second):
				b.Fatal("nodes did not become idle")
			}
		}
		total += time.Since(start)
		b.StopTimer()
		// Baseline: the same protocol calls for ten existing nodes.
		rs, _, err := st.NodeList(ctx, store.NodeListParams{AccountKey: acctID, PoolKey: pool})
		if err != nil || len(rs) != 10 {
			b.Fatalf("%d nodes, %v", len(rs), err)
		}
		creds := relaunch(b, st, rs)
		bs := time.Now()
		var wg sync.WaitGroup
		for _, l := range creds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := prov.agent(l); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		baseline += time.Since(bs)
		if _, err := svc.PoolDelete(ctx, acct.Key(), pool, batch.Conditions{}); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := svc.PoolGet(ctx, acct.Key(), pool); cobalt.IsCode(err, cobalt.ENotFound) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/pool-to-10-idle")
	b.ReportMetric(float64(baseline.Milliseconds())/float64(b.N), "ms/baseline-20-calls")
}

// relaunch gives existing nodes fresh credentials (for the baseline's calls).
func relaunch(b *testing.B, st store.Store, rs []store.NodeRecord) []batch.NodeLaunch {
	var out []batch.NodeLaunch
	for _, r := range rs {
		cred, hash := benchCredential(r.ID)
		if _, err := st.NodeUpdate(context.Background(), r.ID, func(n *store.NodeRecord) error {
			n.CredentialHash = hash
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		out = append(out, batch.NodeLaunch{NodeID: r.ID, Credential: cred})
	}
	return out
}
