package hostapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/hostproto"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

// fixture is the service on a real SQLite store with a settable clock.
type fixture struct {
	svc *Service
	st  store.Store
	now time.Time
	srv *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, now: time.Unix(1_700_000_000, 0)}
	f.svc, err = New(Config{Store: st, Now: func() time.Time { return f.now }, Lease: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.svc.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) post(t *testing.T, path, cred string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, bytes.NewReader(b))
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

func (f *fixture) join(t *testing.T, name string) hostproto.JoinResponse {
	t.Helper()
	tok, _, err := f.svc.CreateJoinToken(context.Background(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	code, b := f.post(t, hostproto.JoinPath, "", hostproto.JoinRequest{Token: tok, Name: name, Address: "10.0.0.2",
		Capacity: hostproto.Capacity{Cores: 4, MemoryBytes: 8 << 30, MaxNodes: 8}})
	if code != http.StatusOK {
		t.Fatalf("join: %d %s", code, b)
	}
	var jr hostproto.JoinResponse
	if err := json.Unmarshal(b, &jr); err != nil || jr.HostID == "" || jr.Credential == "" {
		t.Fatalf("join response %s: %v", b, err)
	}
	return jr
}

func TestJoinAndHeartbeat(t *testing.T) {
	f := newFixture(t)
	jr := f.join(t, "m1")
	h, err := f.st.HostGet(context.Background(), jr.HostID)
	if err != nil || h.Address != "10.0.0.2" || h.MaxNodes != 8 || h.State != store.HostReady {
		t.Fatalf("host = %+v %v", h, err)
	}
	if bytes.Contains(h.CredentialHash, []byte(jr.Credential)) {
		t.Fatal("the credential is stored in clear")
	}
	f.now = f.now.Add(20 * time.Second)
	code, b := f.post(t, hostproto.HeartbeatPath, jr.Credential, hostproto.HeartbeatRequest{Capacity: hostproto.Capacity{Cores: 2, MaxNodes: 3}})
	if code != http.StatusOK {
		t.Fatalf("heartbeat: %d %s", code, b)
	}
	h, _ = f.st.HostGet(context.Background(), jr.HostID)
	if h.Cores != 2 || h.MaxNodes != 3 || !h.LeaseExpiry.Equal(f.now.Add(30*time.Second)) {
		t.Fatalf("after heartbeat = %+v", h)
	}
}

// Attack: a join token works once; a used, expired or unknown one is 401.
func TestJoinTokenRefusedWhenUsedOrExpired(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, _, _ := f.svc.CreateJoinToken(ctx, time.Minute)
	req := hostproto.JoinRequest{Token: tok, Name: "m1", Address: "10.0.0.2"}
	if code, b := f.post(t, hostproto.JoinPath, "", req); code != http.StatusOK {
		t.Fatalf("first join: %d %s", code, b)
	}
	if code, b := f.post(t, hostproto.JoinPath, "", req); code != http.StatusUnauthorized {
		t.Fatalf("second use of a join token: %d %s", code, b)
	}
	old, _, _ := f.svc.CreateJoinToken(ctx, time.Minute)
	f.now = f.now.Add(2 * time.Minute)
	if code, b := f.post(t, hostproto.JoinPath, "", hostproto.JoinRequest{Token: old, Name: "m2", Address: "10.0.0.3"}); code != http.StatusUnauthorized {
		t.Fatalf("expired join token: %d %s", code, b)
	}
	if code, b := f.post(t, hostproto.JoinPath, "", hostproto.JoinRequest{Token: "cjt_made-up", Name: "m3", Address: "10.0.0.4"}); code != http.StatusUnauthorized {
		t.Fatalf("unknown join token: %d %s", code, b)
	}
	hosts, _ := f.svc.List(ctx)
	if len(hosts) != 1 {
		t.Fatalf("%d hosts joined, want 1", len(hosts))
	}
}

// Attack: a host credential learns only its own nodes, and cannot pass for
// another host by naming that host's ID with its own secret.
func TestCredentialBoundToItsHost(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.join(t, "a"), f.join(t, "b")
	for id, host := range map[string]string{"tvm-a": a.HostID, "tvm-b": b.HostID} {
		if _, err := f.st.NodeCreate(ctx, store.NodeRecord{ID: id, AccountKey: "acct", PoolKey: "p1", State: "idle", HostID: host}); err != nil {
			t.Fatal(err)
		}
	}
	code, body := f.post(t, hostproto.HeartbeatPath, a.Credential, hostproto.HeartbeatRequest{})
	var hr hostproto.HeartbeatResponse
	if code != http.StatusOK || json.Unmarshal(body, &hr) != nil || len(hr.Nodes) != 1 || hr.Nodes[0].NodeID != "tvm-a" {
		t.Fatalf("host a's heartbeat: %d %s", code, body)
	}
	_, secretA, _ := parseCredential(a.Credential)
	forged := credentialPrefix + b.HostID + "." + secretA
	if code, body := f.post(t, hostproto.HeartbeatPath, forged, hostproto.HeartbeatRequest{}); code != http.StatusUnauthorized {
		t.Fatalf("a's secret under b's ID: %d %s", code, body)
	}
	for _, cred := range []string{"", "chc_", "chc_x", b.Credential + "x", "Bearer " + b.Credential} {
		if code, _ := f.post(t, hostproto.HeartbeatPath, cred, hostproto.HeartbeatRequest{}); code != http.StatusUnauthorized {
			t.Errorf("credential %q: %d, want 401", cred, code)
		}
	}
}

// Attack: a removed host gets 401 from then on, and nothing else.
func TestRevokedHostRefused(t *testing.T) {
	f := newFixture(t)
	a := f.join(t, "a")
	if err := f.svc.Remove(context.Background(), a.HostID); err != nil {
		t.Fatal(err)
	}
	code, body := f.post(t, hostproto.HeartbeatPath, a.Credential, hostproto.HeartbeatRequest{})
	if code != http.StatusUnauthorized || bytes.Contains(body, []byte("nodes")) {
		t.Fatalf("revoked host's heartbeat: %d %s", code, body)
	}
	h, _ := f.st.HostGet(context.Background(), a.HostID)
	if h.State != store.HostRevoked {
		t.Fatalf("state %q", h.State)
	}
}

// Attack: once its host is removed, a node's credential matches nothing
// (batch.NodeAuthenticate compares against the stored hash) and its lease
// is over; nodes of other hosts keep theirs.
func TestRemoveRevokesNodeCredentials(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.join(t, "a"), f.join(t, "b")
	far := f.now.Add(time.Hour)
	for id, host := range map[string]string{"tvm-a": a.HostID, "tvm-b": b.HostID} {
		if _, err := f.st.NodeCreate(ctx, store.NodeRecord{ID: id, AccountKey: "acct", PoolKey: "p1", State: "idle", HostID: host,
			CredentialHash: hashOf("secret-" + id), LeaseExpiry: far}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.Remove(ctx, a.HostID); err != nil {
		t.Fatal(err)
	}
	na, _ := f.st.NodeGet(ctx, "tvm-a")
	if len(na.CredentialHash) != 0 || na.LeaseExpiry.After(f.now) {
		t.Fatalf("node of the removed host: hash %x lease %v", na.CredentialHash, na.LeaseExpiry)
	}
	nb, _ := f.st.NodeGet(ctx, "tvm-b")
	if !secretMatches("secret-tvm-b", nb.CredentialHash) || !nb.LeaseExpiry.Equal(far) {
		t.Fatalf("node of another host changed: %+v", nb)
	}
}

// A host that stops reporting is lost once its lease runs out, and ready
// again when it reports.
func TestSweepMarksLost(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.join(t, "a")
	// The host is given up a grace (one more lease, batch.HostGrace) past
	// its lease: its node agents have fenced themselves by then.
	f.now = f.now.Add(59 * time.Second)
	if lost, err := f.svc.Sweep(ctx); err != nil || len(lost) != 0 {
		t.Fatalf("within the lease and its grace: lost %v %v", lost, err)
	}
	f.now = f.now.Add(2 * time.Second)
	if lost, err := f.svc.Sweep(ctx); err != nil || len(lost) != 1 || lost[0].ID != a.HostID {
		t.Fatalf("past the lease and its grace: lost %v %v", lost, err)
	}
	if code, body := f.post(t, hostproto.HeartbeatPath, a.Credential, hostproto.HeartbeatRequest{}); code != http.StatusOK ||
		!bytes.Contains(body, []byte(`"state":"ready"`)) {
		t.Fatalf("a lost host reporting again: %d %s", code, body)
	}
}

func TestBadBodies(t *testing.T) {
	f := newFixture(t)
	tok, _, _ := f.svc.CreateJoinToken(context.Background(), time.Hour)
	for _, req := range []hostproto.JoinRequest{
		{Token: tok, Name: "", Address: "10.0.0.2"},
		{Token: tok, Name: "m", Address: "http://x/"},
		{Token: tok, Name: "m", Address: "10.0.0.2", Capacity: hostproto.Capacity{Cores: -1}},
	} {
		if code, _ := f.post(t, hostproto.JoinPath, "", req); code != http.StatusBadRequest {
			t.Errorf("join %+v: %d, want 400", req, code)
		}
	}
	// A refused request does not spend the token.
	if code, b := f.post(t, hostproto.JoinPath, "", hostproto.JoinRequest{Token: tok, Name: "m", Address: "10.0.0.2"}); code != http.StatusOK {
		t.Fatalf("join after refusals: %d %s", code, b)
	}
}

// FuzzJoinRequest: no join body, however malformed, crashes the decoder or
// the validation.
func FuzzJoinRequest(f *testing.F) {
	f.Add([]byte(`{"token":"cjt_x","name":"m","address":"10.0.0.1","capacity":{"cores":1}}`))
	f.Add([]byte(`{"capacity":{"maxNodes":-5}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var req hostproto.JoinRequest
		if decodeJSON(b, &req) != nil {
			return
		}
		_, _ = validateJoin(req)
	})
}

// FuzzCredential: parsing never crashes and never yields an empty part.
func FuzzCredential(f *testing.F) {
	f.Add("chc_h.s")
	f.Add("chc_.")
	f.Fuzz(func(t *testing.T, s string) {
		if id, sec, ok := parseCredential(s); ok && (id == "" || sec == "") {
			t.Fatalf("parseCredential(%q) = %q, %q", s, id, sec)
		}
	})
}
