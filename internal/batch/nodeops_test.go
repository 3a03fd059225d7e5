package batch

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestNodeReimageStates walks a node through reimage as Batch reports it:
// reimaging (the heartbeat does not undo it) until the agent registers
// again, then starting; a node being reimaged refuses another reimage.
func TestNodeReimageStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	e.put("p1", armPool(1))
	e.settle("p1")
	n := e.nodes_("p1")[0]
	e.heartbeat(n.ID, "idle")
	if err := e.svc.NodeReimage(ctx, e.acct.Key(), "p1", n.ID, "sometimes"); cobalt.ErrorReason(err) != "InvalidPropertyValue" {
		t.Fatalf("bad option: %v", err)
	}
	if err := e.svc.NodeReimage(ctx, e.acct.Key(), "p1", "nope", ""); cobalt.ErrorReason(err) != "NodeNotFound" {
		t.Fatalf("unknown node: %v", err)
	}
	if err := e.svc.NodeUserAdd(ctx, e.acct.Key(), "p1", n.ID, NodeUserSpec{Name: "u1", Password: ptr("pw")}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.NodeReimage(ctx, e.acct.Key(), "p1", n.ID, "TaskCompletion"); err != nil {
		t.Fatal(err)
	}
	cmds := e.heartbeat(n.ID, "idle")
	got, _ := e.svc.NodeGet(ctx, e.acct.Key(), "p1", n.ID)
	if got.State != NodeReimaging || got.Schedulable() || !slices.Contains(cmds, cmdReimageAfterTasks) || len(got.Users) != 0 {
		t.Fatalf("after reimage: %s, commands %v, users %v", got.State, cmds, got.Users)
	}
	if err := e.svc.NodeReimage(ctx, e.acct.Key(), "p1", n.ID, ""); cobalt.ErrorReason(err) != reasonNodeBeingReimaged {
		t.Fatalf("reimage a reimaging node: %v", err)
	}
	if _, err := e.svc.NodeRegister(ctx, got, nodeproto.RegisterRequest{NodeID: n.ID}); err != nil {
		t.Fatal(err)
	}
	got, _ = e.svc.NodeGet(ctx, e.acct.Key(), "p1", n.ID)
	if got.State != NodeStarting || slices.Contains(got.Commands, cmdReimageAfterTasks) {
		t.Fatalf("after register: %s %v", got.State, got.Commands)
	}
}

// TestNodeDeallocateStates: deallocating until the agent reports
// deallocated; start only from deallocated; a restarted agent of a
// deallocated node is told to deallocate again.
func TestNodeDeallocateStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	e.put("p1", armPool(1))
	e.settle("p1")
	n := e.nodes_("p1")[0]
	e.heartbeat(n.ID, "idle")
	if err := e.svc.NodeStart(ctx, e.acct.Key(), "p1", n.ID); cobalt.ErrorReason(err) != "OperationInvalidForCurrentState" {
		t.Fatalf("start an idle node: %v", err)
	}
	if err := e.svc.NodeDeallocate(ctx, e.acct.Key(), "p1", n.ID, "requeue"); err != nil {
		t.Fatal(err)
	}
	if cmds := e.heartbeat(n.ID, "idle"); !slices.Contains(cmds, cmdDeallocate) {
		t.Fatalf("commands %v", cmds)
	}
	if got, _ := e.svc.NodeGet(ctx, e.acct.Key(), "p1", n.ID); got.State != NodeDeallocating {
		t.Fatalf("state %s", got.State)
	}
	if cmds := e.heartbeat(n.ID, NodeDeallocated); slices.Contains(cmds, cmdDeallocate) {
		t.Fatalf("commands after deallocated: %v", cmds)
	}
	got, _ := e.svc.NodeGet(ctx, e.acct.Key(), "p1", n.ID)
	if got.State != NodeDeallocated || got.Schedulable() {
		t.Fatalf("state %s", got.State)
	}
	if _, err := e.svc.NodeRegister(ctx, got, nodeproto.RegisterRequest{NodeID: n.ID}); err != nil {
		t.Fatal(err)
	}
	if got, _ = e.svc.NodeGet(ctx, e.acct.Key(), "p1", n.ID); got.State != NodeDeallocated || !slices.Contains(got.Commands, cmdDeallocate) {
		t.Fatalf("restarted agent of a deallocated node: %s %v", got.State, got.Commands)
	}
	e.heartbeat(n.ID, NodeDeallocated)
	if _, err := e.svc.NodeRemoteLogin(ctx, e.acct.Key(), "p1", n.ID); cobalt.ErrorReason(err) != "NodeNotReady" {
		t.Fatalf("remote login of a deallocated node: %v", err)
	}
	if err := e.svc.NodeStart(ctx, e.acct.Key(), "p1", n.ID); err != nil {
		t.Fatal(err)
	}
	got, _ = e.svc.NodeGet(ctx, e.acct.Key(), "p1", n.ID)
	if got.State != NodeStarting || !slices.Contains(got.Commands, cmdReboot) {
		t.Fatalf("after start: %s %v", got.State, got.Commands)
	}
	// The agent still reports deallocated until it acts on the command:
	// that does not undo the start.
	e.heartbeat(n.ID, NodeDeallocated)
	if got, _ = e.svc.NodeGet(ctx, e.acct.Key(), "p1", n.ID); got.State != NodeStarting {
		t.Fatalf("a late deallocated report: %s", got.State)
	}
}

// TestNodeUsersStoreNoClearPassword: a node user's password reaches neither
// the store nor the node in clear; the bcrypt hash verifies it. Users are
// validated as Batch does.
func TestNodeUsersStoreNoClearPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	e.put("p1", armPool(1))
	e.settle("p1")
	n := e.nodes_("p1")[0]
	const pw = "Clear-Text-Pa55word"
	if err := e.svc.NodeUserAdd(ctx, e.acct.Key(), "p1", n.ID, NodeUserSpec{Name: "alice", Password: ptr(pw)}); err != nil {
		t.Fatal(err)
	}
	r, err := e.st.NodeGet(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(r.Body, []byte(pw)) {
		t.Fatal("the node record holds the clear password")
	}
	got, _ := e.svc.NodeGet(ctx, e.acct.Key(), "p1", n.ID)
	if len(got.Users) != 1 || bcrypt.CompareHashAndPassword([]byte(got.Users[0].PasswordHash), []byte(pw)) != nil {
		t.Fatalf("users %+v", got.Users)
	}
	if d := got.Users[0].ExpiryTime.Sub(e.clock()); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("default expiry in %v, want a day", d)
	}
	for _, c := range []struct {
		u    NodeUserSpec
		want string
	}{
		{NodeUserSpec{Name: "alice", Password: ptr("x")}, reasonNodeUserExists},
		{NodeUserSpec{Password: ptr("x")}, "MissingRequiredProperty"},
		{NodeUserSpec{Name: "root", Password: ptr("x")}, "InvalidPropertyValue"},
		{NodeUserSpec{Name: "a:b", Password: ptr("x")}, "InvalidPropertyValue"},
		{NodeUserSpec{Name: "k", SSHPublicKey: ptr("not a key")}, "InvalidPropertyValue"},
		{NodeUserSpec{Name: "e", ExpiryTime: ptr(e.clock().Add(400 * 24 * time.Hour))}, "InvalidPropertyValue"},
	} {
		if err := e.svc.NodeUserAdd(ctx, e.acct.Key(), "p1", n.ID, c.u); cobalt.ErrorReason(err) != c.want {
			t.Errorf("add %+v: %v, want %s", c.u, err, c.want)
		}
	}
	if err := e.svc.NodeUserDelete(ctx, e.acct.Key(), "p1", n.ID, "bob"); cobalt.ErrorReason(err) != reasonNodeUserNotFound {
		t.Errorf("delete a missing user: %v", err)
	}
	// A node of another pool (or account) is not reachable by this pool's path.
	if err := e.svc.NodeUserAdd(ctx, e.acct.Key(), "other", n.ID, NodeUserSpec{Name: "bob", Password: ptr("x")}); cobalt.ErrorReason(err) != "NodeNotFound" {
		t.Errorf("add through another pool's path: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// FuzzNodeUserSpec: any name, password and key either fail validation or
// give a user whose stored form holds no clear password.
func FuzzNodeUserSpec(f *testing.F) {
	f.Add("alice", "pw", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGqnB5Xy0aW5CLtsJ1Bav3Gi8BiyU7vD0IWxpuHwfmvq a@b")
	f.Add("root", "", "")
	f.Add("", "x", "ssh-rsa ////")
	s := &Service{cfg: Config{Now: time.Now}}
	f.Fuzz(func(t *testing.T, name, pw, key string) {
		nu, err := s.nodeUser(nodeproto.NodeUser{Name: name}, NodeUserSpec{Name: name, Password: &pw, SSHPublicKey: &key})
		if err != nil {
			return
		}
		if len(pw) >= 4 && strings.Contains(nu.PasswordHash+nu.SSHPublicKey, pw) && !strings.Contains(key, pw) {
			t.Fatalf("the clear password is kept")
		}
	})
}
