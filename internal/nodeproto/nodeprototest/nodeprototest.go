package nodeprototest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// Node is a node the target allocated for the suite.
type Node struct {
	// ID is the node's ID, as the target's configuration names it.
	ID string
	// PoolID is the pool the node belongs to.
	PoolID string
	// Credential is the node's bearer credential.
	Credential string
	// Identities are the managed identities the node carries.
	Identities []nodeproto.Identity
}

// Target is an implementation of the node API under test.
type Target struct {
	// BaseURL is the node API's base URL (https://host:port, no trailing
	// slash); the protocol's paths are appended to it.
	BaseURL string
	// Client is an HTTP client that trusts the target's certificate.
	Client *http.Client
	// NewNode allocates a fresh node, alone in a fresh pool, that carries
	// identities distinct managed identities (0, 1 or 2). The node has not
	// registered yet. It fails t when it cannot.
	NewNode func(t *testing.T, identities int) Node
	// Enqueue makes one task with the given ID and command line ready to be
	// leased by n (in n's pool). It fails t when it cannot.
	Enqueue func(t *testing.T, n Node, taskID, commandLine string)
}

var paths = []string{nodeproto.PathRegister, nodeproto.PathHeartbeat, nodeproto.PathLease, nodeproto.PathReport, nodeproto.PathToken}

// Run runs the conformance suite against target, one subtest per behaviour.
// Subtests run in parallel, each on nodes of its own.
func Run(t *testing.T, target Target) {
	c := client{target: target}
	t.Run("Unauthenticated", func(t *testing.T) {
		t.Parallel()
		n := target.NewNode(t, 0)
		for _, p := range paths {
			for name, auth := range map[string]string{"no credential": "", "other scheme": "Basic " + n.Credential,
				"forged credential": "Bearer " + n.Credential + "x", "empty bearer": "Bearer "} {
				st, e := c.raw(t, "POST", p, auth, []byte(`{}`))
				if st != http.StatusUnauthorized || e.Code == "" {
					t.Errorf("%s %s: status %d, error %+v; want 401 with an error code", name, p, st, e)
				}
			}
		}
	})
	t.Run("OnlyPOST", func(t *testing.T) {
		t.Parallel()
		n := target.NewNode(t, 0)
		for _, p := range paths {
			for _, m := range []string{"GET", "PUT", "DELETE"} {
				if st, _ := c.raw(t, m, p, "Bearer "+n.Credential, nil); st != http.StatusMethodNotAllowed {
					t.Errorf("%s %s: status %d, want 405", m, p, st)
				}
			}
		}
	})
	t.Run("InvalidJSON", func(t *testing.T) {
		t.Parallel()
		n := target.NewNode(t, 0)
		for _, p := range paths {
			if st, e := c.raw(t, "POST", p, "Bearer "+n.Credential, []byte(`{"nodeId":`)); st != http.StatusBadRequest || e.Code != "InvalidRequest" {
				t.Errorf("%s: status %d, error %+v; want 400 InvalidRequest", p, st, e)
			}
		}
	})
	t.Run("OtherNodeID", func(t *testing.T) {
		t.Parallel()
		n := target.NewNode(t, 1)
		other := n.ID + "-other"
		for _, r := range []struct {
			path string
			body any
		}{
			{nodeproto.PathRegister, nodeproto.RegisterRequest{NodeID: other}},
			{nodeproto.PathHeartbeat, nodeproto.HeartbeatRequest{NodeID: other, State: "idle"}},
			{nodeproto.PathLease, nodeproto.LeaseRequest{NodeID: other, FreeSlots: 1}},
			{nodeproto.PathReport, nodeproto.ReportRequest{NodeID: other, LeaseID: "x", Event: "started"}},
			{nodeproto.PathToken, nodeproto.TokenRequest{NodeID: other, Resource: "https://storage.azure.com/"}},
		} {
			if st, e := c.call(t, n, r.path, r.body, nil); st != http.StatusForbidden || e.Code != "Forbidden" {
				t.Errorf("%s naming another node: status %d, error %+v; want 403 Forbidden", r.path, st, e)
			}
		}
	})
	t.Run("Register", func(t *testing.T) {
		t.Parallel()
		n := target.NewNode(t, 2)
		var reg nodeproto.RegisterResponse
		c.must(t, n, nodeproto.PathRegister, nodeproto.RegisterRequest{NodeID: n.ID, AgentVersion: "conformance", Isolation: "process"}, &reg)
		if reg.Config.NodeID != n.ID || reg.Config.PoolID != n.PoolID {
			t.Errorf("config names node %q of pool %q, want %q of %q", reg.Config.NodeID, reg.Config.PoolID, n.ID, n.PoolID)
		}
		if !sameIdentities(reg.Config.Identities, n.Identities) {
			t.Errorf("config identities %+v, want %+v", reg.Config.Identities, n.Identities)
		}
		// Registering again (a restarted agent) is allowed.
		c.must(t, n, nodeproto.PathRegister, nodeproto.RegisterRequest{NodeID: n.ID}, &reg)
	})
	t.Run("Heartbeat", func(t *testing.T) {
		t.Parallel()
		n := target.NewNode(t, 0)
		c.must(t, n, nodeproto.PathRegister, nodeproto.RegisterRequest{NodeID: n.ID}, &nodeproto.RegisterResponse{})
		var hr nodeproto.HeartbeatResponse
		c.must(t, n, nodeproto.PathHeartbeat, nodeproto.HeartbeatRequest{NodeID: n.ID, State: "idle"}, &hr)
		for _, cmd := range hr.Commands {
			if cmd != "reboot" && cmd != "remove" && !strings.HasPrefix(cmd, "terminate:") {
				t.Errorf("heartbeat command %q is not one the protocol defines", cmd)
			}
		}
	})
	t.Run("LeaseBounds", func(t *testing.T) {
		t.Parallel()
		n := target.NewNode(t, 0)
		c.ready(t, n)
		for _, r := range []nodeproto.LeaseRequest{{FreeSlots: -1}, {FreeSlots: 1, WaitSeconds: -1}, {FreeSlots: 1, WaitSeconds: 61}} {
			if st, e := c.call(t, n, nodeproto.PathLease, r, nil); st != http.StatusBadRequest || e.Code != "InvalidRequest" {
				t.Errorf("lease %+v: status %d, error %+v; want 400 InvalidRequest", r, st, e)
			}
		}
		var lr nodeproto.LeaseResponse
		c.must(t, n, nodeproto.PathLease, nodeproto.LeaseRequest{NodeID: n.ID, FreeSlots: 1}, &lr)
		if len(lr.Leases) != 0 {
			t.Errorf("a pool without tasks leased %+v", lr.Leases)
		}
	})
	t.Run("LeaseAndReport", func(t *testing.T) {
		t.Parallel()
		n := target.NewNode(t, 0)
		c.ready(t, n)
		target.Enqueue(t, n, "conformance-task", "/bin/true")
		var lease nodeproto.TaskLease
		for deadline := time.Now().Add(30 * time.Second); lease.LeaseID == ""; {
			if time.Now().After(deadline) {
				t.Fatal("the enqueued task was not leased within 30 s")
			}
			var lr nodeproto.LeaseResponse
			c.must(t, n, nodeproto.PathLease, nodeproto.LeaseRequest{NodeID: n.ID, FreeSlots: 1, WaitSeconds: 5}, &lr)
			if len(lr.Leases) > 1 {
				t.Fatalf("one free slot got %d leases", len(lr.Leases))
			}
			if len(lr.Leases) == 1 {
				lease = lr.Leases[0]
			}
		}
		if lease.TaskID != "conformance-task" || lease.CommandLine != "/bin/true" || lease.JobID == "" || lease.RequiredSlots > 1 {
			t.Errorf("lease %+v does not describe the enqueued task", lease)
		}
		start := time.Now().UTC()
		c.must(t, n, nodeproto.PathHeartbeat, nodeproto.HeartbeatRequest{NodeID: n.ID, State: "running", RunningLeases: []string{lease.LeaseID}}, &nodeproto.HeartbeatResponse{})
		c.must(t, n, nodeproto.PathReport, nodeproto.ReportRequest{NodeID: n.ID, LeaseID: lease.LeaseID, Event: "started", StartTime: start}, &nodeproto.ReportResponse{})
		end, code := time.Now().UTC(), 0
		c.must(t, n, nodeproto.PathReport, nodeproto.ReportRequest{NodeID: n.ID, LeaseID: lease.LeaseID, Event: "completed", StartTime: start, EndTime: &end, ExitCode: &code}, &nodeproto.ReportResponse{})
		// A report for a lease the control plane no longer knows (its task
		// was requeued or deleted meanwhile) is acknowledged and ignored, so
		// that the agent carries on; an event the protocol does not define
		// is refused.
		c.must(t, n, nodeproto.PathReport, nodeproto.ReportRequest{NodeID: n.ID, LeaseID: "no-such-lease", Event: "completed", StartTime: start, EndTime: &end, ExitCode: &code}, &nodeproto.ReportResponse{})
		if st, e := c.call(t, n, nodeproto.PathReport, nodeproto.ReportRequest{NodeID: n.ID, LeaseID: lease.LeaseID, Event: "paused", StartTime: start}, nil); st != http.StatusBadRequest || e.Code == "" {
			t.Errorf("report of an undefined event: status %d, error %+v; want 400 with an error code", st, e)
		}
	})
	t.Run("Token", func(t *testing.T) {
		t.Parallel()
		one, two, none := target.NewNode(t, 1), target.NewNode(t, 2), target.NewNode(t, 0)
		if len(one.Identities) != 1 || len(two.Identities) != 2 {
			t.Fatalf("NewNode gave %d and %d identities, want 1 and 2", len(one.Identities), len(two.Identities))
		}
		id, a, b := one.Identities[0], two.Identities[0], two.Identities[1]
		const res = "https://storage.azure.com/"
		ok := func(n Node, r nodeproto.TokenRequest, want nodeproto.Identity) {
			t.Helper()
			var tr nodeproto.TokenResponse
			if st, e := c.call(t, n, nodeproto.PathToken, r, &tr); st != http.StatusOK {
				t.Errorf("token %+v: status %d, error %+v", r, st, e)
				return
			}
			if tr.AccessToken == "" || !strings.EqualFold(tr.Identity.ClientID, want.ClientID) || tr.Resource != r.Resource || !tr.ExpiresOn.After(time.Now()) {
				t.Errorf("token %+v: %+v, want a live token for %+v", r, tr.Identity, want)
			}
		}
		refused := func(n Node, r nodeproto.TokenRequest, code string) {
			t.Helper()
			if st, e := c.call(t, n, nodeproto.PathToken, r, nil); st != http.StatusBadRequest || e.Code != code {
				t.Errorf("token %+v: status %d, error %+v; want 400 %s", r, st, e, code)
			}
		}
		ok(one, nodeproto.TokenRequest{NodeID: one.ID, Resource: res}, id)
		ok(one, nodeproto.TokenRequest{Resource: res, ClientID: strings.ToUpper(id.ClientID)}, id)
		ok(one, nodeproto.TokenRequest{Resource: res, ObjectID: id.PrincipalID}, id)
		ok(one, nodeproto.TokenRequest{Resource: res, ResourceID: id.ResourceID}, id)
		ok(two, nodeproto.TokenRequest{Resource: res, ClientID: b.ClientID}, b)
		refused(one, nodeproto.TokenRequest{}, "MissingResource")
		refused(one, nodeproto.TokenRequest{Resource: res, ClientID: a.ClientID}, "IdentityNotFound")
		refused(one, nodeproto.TokenRequest{Resource: res, ResourceID: b.ResourceID}, "IdentityNotFound")
		refused(two, nodeproto.TokenRequest{Resource: res}, "MultipleIdentities")
		refused(two, nodeproto.TokenRequest{Resource: res, ClientID: a.ClientID, ObjectID: a.PrincipalID}, "InvalidRequest")
		refused(none, nodeproto.TokenRequest{Resource: res}, "IdentityNotFound")
	})
}

type client struct{ target Target }

// ready registers n and reports it idle, as an agent does before leasing.
func (c client) ready(t *testing.T, n Node) {
	t.Helper()
	c.must(t, n, nodeproto.PathRegister, nodeproto.RegisterRequest{NodeID: n.ID}, &nodeproto.RegisterResponse{})
	c.must(t, n, nodeproto.PathHeartbeat, nodeproto.HeartbeatRequest{NodeID: n.ID, State: "idle"}, &nodeproto.HeartbeatResponse{})
}

// must is call failing t unless the answer is 200.
func (c client) must(t *testing.T, n Node, path string, req, resp any) {
	t.Helper()
	if st, e := c.call(t, n, path, req, resp); st != http.StatusOK {
		t.Fatalf("%s %+v: status %d, error %+v", path, req, st, e)
	}
}

// call posts req as n and decodes a 200 answer into resp (when not nil); it
// returns the status and, for other statuses, the Error body.
func (c client) call(t *testing.T, n Node, path string, req, resp any) (int, nodeproto.Error) {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	st, body := c.do(t, "POST", path, "Bearer "+n.Credential, b)
	if st != http.StatusOK {
		return st, decodeError(t, path, st, body)
	}
	if resp != nil {
		if err := json.Unmarshal(body, resp); err != nil {
			t.Fatalf("%s: 200 with a body that is not the response: %q: %v", path, body, err)
		}
	}
	return st, nodeproto.Error{}
}

// raw sends body with the given Authorization header ("" for none).
func (c client) raw(t *testing.T, method, path, auth string, body []byte) (int, nodeproto.Error) {
	t.Helper()
	st, b := c.do(t, method, path, auth, body)
	if st == http.StatusOK || st == http.StatusMethodNotAllowed {
		return st, nodeproto.Error{}
	}
	return st, decodeError(t, path, st, b)
}

func (c client) do(t *testing.T, method, path, auth string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, c.target.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.target.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// decodeError checks that a non-200 answer carries the protocol's Error body.
func decodeError(t *testing.T, path string, st int, body []byte) nodeproto.Error {
	t.Helper()
	var e nodeproto.Error
	if err := json.Unmarshal(body, &e); err != nil || e.Code == "" {
		t.Errorf("%s: status %d without the protocol's error body: %q", path, st, body)
	}
	return e
}

func sameIdentities(got, want []nodeproto.Identity) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || (strings.EqualFold(g.ClientID, w.ClientID) && strings.EqualFold(g.PrincipalID, w.PrincipalID) &&
				strings.EqualFold(strings.TrimSuffix(g.ResourceID, "/"), strings.TrimSuffix(w.ResourceID, "/")))
		}
		if !found {
			return false
		}
	}
	return true
}
