package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"golang.org/x/crypto/ssh"

	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// sshRun logs in to addr as user with auth and runs command; it returns
// the output and the host key the server showed.
func sshRun(addr, user string, auth ssh.AuthMethod, command string) (string, ssh.PublicKey, error) {
	var hostKey ssh.PublicKey
	cfg := &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{auth}, Timeout: 10 * time.Second,
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error { hostKey = k; return nil }}
	c, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		return "", hostKey, err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return "", hostKey, err
	}
	defer s.Close()
	out, err := s.CombinedOutput(command)
	return string(out), hostKey, err
}

// loginAddr returns the node's remote login address from remoteloginsettings.
func loginAddr(t *testing.T, c context.Context, bc *azbatch.Client, pool, node string) string {
	t.Helper()
	rl, err := bc.GetNodeRemoteLoginSettings(c, pool, node, nil)
	if err != nil {
		t.Fatalf("remote login settings: %v", err)
	}
	if deref(rl.RemoteLoginIPAddress) == "" || rl.RemoteLoginPort == nil || *rl.RemoteLoginPort <= 0 {
		t.Fatalf("remote login settings %+v", rl)
	}
	return net.JoinHostPort(*rl.RemoteLoginIPAddress, strconv.Itoa(int(*rl.RemoteLoginPort)))
}

// eventually polls f until it returns nil (the node applies user changes at
// its next heartbeat) and fails with f's last error after a minute.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

func batchErrText(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("%d %s", re.StatusCode, re.ErrorCode)
	}
	return fmt.Sprint(err)
}

// TestNodeUsersAndRemoteLogin adds node users with azbatch and logs in to
// the node over SSH at the address remoteloginsettings gives, as each user,
// with a password and with a key; wrong credentials, an expired user, a
// deleted user and a user of another pool are refused.
func TestNodeUsersAndRemoteLogin(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		testenv.Unavailable(t, "node sandboxes are not available here")
	}
	t.Parallel()
	e := startWith(t, server.Options{Isolation: "netns"})
	c := ctx(t)
	endpointA := e.plainPool(t, c, "pa", 1, 1)
	bcA := e.batchClient(t, endpointA)
	bcB := e.batchClient(t, e.plainPool(t, c, "pb", 1, 1))
	nodeA := deref(e.waitIdleNode(t, c, bcA, "pa").ID)
	nodeB := deref(e.waitIdleNode(t, c, bcB, "pb").ID)
	addrA, addrB := loginAddr(t, c, bcA, "pa", nodeA), loginAddr(t, c, bcB, "pb", nodeB)

	expiry := time.Now().Add(time.Hour)
	if _, err := bcA.CreateNodeUser(c, "pa", nodeA, azbatch.CreateNodeUserContent{Name: to.Ptr("alice"),
		Password: to.Ptr("alice-Pw-1"), ExpiryTime: &expiry}, nil); err != nil {
		t.Fatalf("add user: %v", err)
	}
	_, err := bcA.CreateNodeUser(c, "pa", nodeA, azbatch.CreateNodeUserContent{Name: to.Ptr("alice"), Password: to.Ptr("x")}, nil)
	if got := batchErrText(err); got != "409 NodeUserExists" {
		t.Errorf("add the user again: %s, want 409 NodeUserExists", got)
	}
	if _, err := bcA.ReplaceNodeUser(c, "pa", nodeA, "nobody-here", azbatch.UpdateNodeUserContent{Password: to.Ptr("x")}, nil); batchErrText(err) != "404 NodeUserNotFound" {
		t.Errorf("update a missing user: %s, want 404 NodeUserNotFound", batchErrText(err))
	}

	// alice logs in with her password and is herself inside the node.
	var out string
	var hostKey ssh.PublicKey
	eventually(t, "alice logs in", func() error {
		var err error
		out, hostKey, err = sshRun(addrA, "alice", ssh.Password("alice-Pw-1"), "id -un; id -u; hostname; test -d /mnt/batch/tasks/shared && echo batch")
		return err
	})
	lines := strings.Fields(out)
	if len(lines) != 4 || lines[0] != "alice" || lines[1] == "0" || lines[3] != "batch" {
		t.Fatalf("as alice: %q", out)
	}
	if _, _, err := sshRun(addrA, "alice", ssh.Password("wrong"), "id"); err == nil {
		t.Error("a wrong password logged in")
	}

	// bob logs in with his key; another key is refused.
	_, bobKey, _ := ed25519.GenerateKey(rand.Reader)
	bobSigner, _ := ssh.NewSignerFromKey(bobKey)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := ssh.NewSignerFromKey(otherKey)
	if _, err := bcA.CreateNodeUser(c, "pa", nodeA, azbatch.CreateNodeUserContent{Name: to.Ptr("bob"), IsAdmin: to.Ptr(true),
		SSHPublicKey: to.Ptr(string(ssh.MarshalAuthorizedKey(bobSigner.PublicKey())))}, nil); err != nil {
		t.Fatalf("add key user: %v", err)
	}
	eventually(t, "bob logs in with his key", func() error {
		out, _, err := sshRun(addrA, "bob", ssh.PublicKeys(bobSigner), "id -un")
		if err == nil && strings.TrimSpace(out) != "bob" && strings.TrimSpace(out) != "root" {
			return fmt.Errorf("as bob: %q", out)
		}
		return err
	})
	if _, _, err := sshRun(addrA, "bob", ssh.PublicKeys(otherSigner), "id"); err == nil {
		t.Error("another key logged in as bob")
	}
	if _, _, err := sshRun(addrA, "bob", ssh.Password(""), "id"); err == nil {
		t.Error("a key-only user logged in with an empty password")
	}
	if path, err := exec.LookPath("ssh"); err == nil {
		// Debian's OpenSSH client, with the same key.
		dir := t.TempDir()
		blk, _ := ssh.MarshalPrivateKey(bobKey, "")
		keyFile := filepath.Join(dir, "id")
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
		host, port, _ := net.SplitHostPort(addrA)
		cmd := exec.CommandContext(c, path, "-F", "/dev/null", "-i", keyFile, "-p", port, "-o", "BatchMode=yes",
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "bob@"+host, "echo", "openssh-ok")
		if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "openssh-ok") {
			t.Errorf("OpenSSH client: %v %s", err, b)
		}
	}

	// A user of pool A is nobody on pool B's node, and the other way round.
	if _, err := bcB.CreateNodeUser(c, "pb", nodeB, azbatch.CreateNodeUserContent{Name: to.Ptr("erin"), Password: to.Ptr("erin-Pw-1")}, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "erin logs in to pool B", func() error {
		_, _, err := sshRun(addrB, "erin", ssh.Password("erin-Pw-1"), "true")
		return err
	})
	if _, _, err := sshRun(addrB, "alice", ssh.Password("alice-Pw-1"), "id"); err == nil {
		t.Error("pool A's user logged in to pool B's node")
	}
	if _, _, err := sshRun(addrA, "erin", ssh.Password("erin-Pw-1"), "id"); err == nil {
		t.Error("pool B's user logged in to pool A's node")
	}

	// @azure/batch adds a user (then changes its password) and reads the
	// same remote login settings; the user logs in with the new password
	// only. Deleted through it, the user is refused.
	testenv.Require(t, testenv.NodeModule("@azure/batch"), testenv.NodeModule("@azure/arm-batch"))
	var fromNode struct {
		IP         string           `json:"ip"`
		Port       int              `json:"port"`
		Extensions []map[string]any `json:"extensions"`
	}
	e.node("nodeusers.js", map[string]any{"resourceGroup": "work-rg", "endpoint": endpointA, "pool": "pa", "node": nodeA,
		"action": "add", "user": "nina", "password": "nina-Pw-1"}, &fromNode)
	if net.JoinHostPort(fromNode.IP, strconv.Itoa(fromNode.Port)) != addrA || len(fromNode.Extensions) != 0 {
		t.Errorf("@azure/batch remote login settings %+v, want %s", fromNode, addrA)
	}
	eventually(t, "nina logs in", func() error {
		out, _, err := sshRun(addrA, "nina", ssh.Password("nina-Pw-1"), "id -un")
		if err == nil && strings.TrimSpace(out) != "nina" {
			return fmt.Errorf("as nina: %q", out)
		}
		return err
	})
	if _, _, err := sshRun(addrA, "nina", ssh.Password("first-nina-Pw-1"), "id"); err == nil {
		t.Error("the replaced password still logs in")
	}

	// An expired user is refused.
	past := time.Now().Add(-time.Minute)
	if _, err := bcA.ReplaceNodeUser(c, "pa", nodeA, "alice", azbatch.UpdateNodeUserContent{Password: to.Ptr("alice-Pw-1"), ExpiryTime: &past}, nil); err != nil {
		t.Fatalf("update user: %v", err)
	}
	eventually(t, "the expired user is refused", func() error {
		if _, _, err := sshRun(addrA, "alice", ssh.Password("alice-Pw-1"), "id"); err == nil {
			return errors.New("the expired user still logs in")
		}
		return nil
	})
	// A deleted user is refused.
	if _, err := bcA.DeleteNodeUser(c, "pa", nodeA, "bob", nil); err != nil {
		t.Fatalf("delete user: %v", err)
	}
	eventually(t, "the deleted user is refused", func() error {
		if _, _, err := sshRun(addrA, "bob", ssh.PublicKeys(bobSigner), "id"); err == nil {
			return errors.New("the deleted user still logs in")
		}
		return nil
	})
	if _, err := bcA.DeleteNodeUser(c, "pa", nodeA, "bob", nil); batchErrText(err) != "404 NodeUserNotFound" {
		t.Errorf("delete the user again: %s", batchErrText(err))
	}

	// The host key stays the node's across a reimage (it is kept outside
	// the node); the reimage (by @azure/batch) removes the node's users.
	e.node("nodeusers.js", map[string]any{"resourceGroup": "work-rg", "endpoint": endpointA, "pool": "pa", "node": nodeA,
		"action": "delete", "user": "nina"}, nil)
	eventually(t, "the user deleted by @azure/batch is refused", func() error {
		if _, _, err := sshRun(addrA, "nina", ssh.Password("nina-Pw-1"), "id"); err == nil {
			return errors.New("nina still logs in")
		}
		return nil
	})
	waitState(t, c, bcA, "pa", nodeA, azbatch.NodeStateIdle)
	if _, err := bcA.CreateNodeUser(c, "pa", nodeA, azbatch.CreateNodeUserContent{Name: to.Ptr("frank"), Password: to.Ptr("frank-Pw-1")}, nil); err != nil {
		t.Fatal(err)
	}
	var key2 ssh.PublicKey
	eventually(t, "frank logs in after the reimage", func() error {
		var err error
		_, key2, err = sshRun(loginAddr(t, c, bcA, "pa", nodeA), "frank", ssh.Password("frank-Pw-1"), "true")
		return err
	})
	if !bytes.Equal(hostKey.Marshal(), key2.Marshal()) {
		t.Error("the node's host key changed across the reimage")
	}
}

// TestNodeReimageAndDeallocate reimages a node with azbatch: what tasks
// left in /tmp and the node's shared directory is gone and the start task
// ran again; then deallocates the node (deallocating, deallocated, no task
// placed on it) and starts it again (idle, tasks run).
func TestNodeReimageAndDeallocate(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		testenv.Unavailable(t, "node sandboxes are not available here")
	}
	t.Parallel()
	e := startWith(t, server.Options{Isolation: "netns"})
	c := ctx(t)
	bc := e.batchClient(t, e.plainPool(t, c, "none", 0, 1))
	if _, err := bc.CreatePool(c, azbatch.CreatePoolContent{
		ID: to.Ptr("p"), VMSize: to.Ptr("STANDARD_D2S_V3"), TargetDedicatedNodes: to.Ptr[int32](1),
		VirtualMachineConfiguration: &azbatch.VirtualMachineConfiguration{
			ImageReference: &azbatch.ImageReference{Publisher: to.Ptr("canonical"), Offer: to.Ptr("ubuntu-24_04-lts"), SKU: to.Ptr("server")},
			NodeAgentSKUID: to.Ptr("batch.node.ubuntu 24.04"),
			Extensions: []azbatch.VMExtension{{Name: to.Ptr("ama"), Publisher: to.Ptr("Microsoft.Azure.Monitor"),
				Type: to.Ptr("AzureMonitorLinuxAgent"), TypeHandlerVersion: to.Ptr("1.0"),
				ProtectedSettings: map[string]*string{"secret": to.Ptr("s3cret")}}},
		},
		StartTask: &azbatch.StartTask{CommandLine: to.Ptr(`/bin/sh -c "date +%s%N >> $AZ_BATCH_NODE_SHARED_DIR/boots"`), WaitForSuccess: to.Ptr(true)},
	}, nil); err != nil {
		t.Fatalf("create pool: %v", err)
	}
	node := e.waitIdleNode(t, c, bc, "p")
	id := deref(node.ID)
	firstStart := *node.StartTaskInfo.StartTime

	// Extensions: the pool's, provisioned, without protected settings.
	exts, err := bc.NewListNodeExtensionsPager("p", id, nil).NextPage(c)
	if err != nil || len(exts.Value) != 1 {
		t.Fatalf("list extensions: %v %+v", err, exts)
	}
	x := exts.Value[0]
	if deref(x.ProvisioningState) != "Succeeded" || deref(x.VMExtension.Name) != "ama" || x.VMExtension.ProtectedSettings != nil ||
		x.InstanceView == nil || deref(x.InstanceView.Name) != "ama" {
		t.Errorf("extension %+v", x)
	}
	if _, err := bc.GetNodeExtension(c, "p", id, "ama", nil); err != nil {
		t.Errorf("get extension: %v", err)
	}
	if _, err := bc.GetNodeExtension(c, "p", id, "none", nil); batchErrText(err) != "404 ResourceNotFound" {
		t.Errorf("get a missing extension: %s", batchErrText(err))
	}

	// A task leaves files in the node's /tmp, home and shared directory.
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("j"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("p")}}, nil); err != nil {
		t.Fatal(err)
	}
	admin := &azbatch.UserIdentity{AutoUser: &azbatch.AutoUserSpecification{ElevationLevel: to.Ptr(azbatch.ElevationLevelAdmin), Scope: to.Ptr(azbatch.AutoUserScopePool)}}
	task := func(tid, script string) azbatch.Task {
		t.Helper()
		if _, err := bc.CreateTask(c, "j", azbatch.CreateTaskContent{ID: to.Ptr(tid), CommandLine: to.Ptr("/bin/sh -c '" + script + "'"), UserIdentity: admin}, nil); err != nil {
			t.Fatal(err)
		}
		return e.waitTask(t, c, bc, "j", tid)
	}
	if r := task("leave", `touch /tmp/marker /var/marker $AZ_BATCH_NODE_SHARED_DIR/marker && test -e /tmp/marker`); deref(r.ExecutionInfo.ExitCode) != 0 {
		t.Fatalf("leave files: exit %d", deref(r.ExecutionInfo.ExitCode))
	}
	if _, err := bc.ReimageNode(c, "p", id, &azbatch.ReimageNodeOptions{Parameters: &azbatch.ReimageNodeContent{
		NodeReimageOption: to.Ptr(azbatch.NodeReimageOptionTaskCompletion)}}); err != nil {
		t.Fatalf("reimage: %v", err)
	}
	if _, err := bc.ReimageNode(c, "p", id, &azbatch.ReimageNodeOptions{Parameters: &azbatch.ReimageNodeContent{
		NodeReimageOption: to.Ptr(azbatch.NodeReimageOption("sometimes"))}}); batchErrText(err) != "400 InvalidPropertyValue" {
		t.Errorf("reimage with a bad option: %s", batchErrText(err))
	}
	node = e.waitIdleNode(t, c, bc, "p")
	if !node.StartTaskInfo.StartTime.After(firstStart) {
		t.Errorf("the start task did not run again: %v then %v", firstStart, *node.StartTaskInfo.StartTime)
	}
	r := task("check", `test ! -e /tmp/marker && test ! -e /var/marker && test ! -e $AZ_BATCH_NODE_SHARED_DIR/marker && test $(wc -l < $AZ_BATCH_NODE_SHARED_DIR/boots) -eq 1`)
	if deref(r.ExecutionInfo.ExitCode) != 0 {
		t.Errorf("after the reimage the node still has the files a task left (exit %d)", deref(r.ExecutionInfo.ExitCode))
	}

	// Deallocate: the node stays deallocated and takes no task; start.
	if _, err := bc.StartNode(c, "p", id, nil); batchErrText(err) != "409 OperationInvalidForCurrentState" {
		t.Errorf("start an idle node: %s", batchErrText(err))
	}
	if _, err := bc.DeallocateNode(c, "p", id, nil); err != nil {
		t.Fatalf("deallocate: %v", err)
	}
	if n, err := bc.GetNode(c, "p", id, nil); err != nil || (*n.State != azbatch.NodeStateDeallocating && *n.State != azbatch.NodeStateDeallocated) {
		t.Errorf("after deallocate: %v %v", err, n.State)
	}
	waitState(t, c, bc, "p", id, azbatch.NodeStateDeallocated)
	if _, err := bc.CreateTask(c, "j", azbatch.CreateTaskContent{ID: to.Ptr("later"), CommandLine: to.Ptr("/bin/true")}, nil); err != nil {
		t.Fatal(err)
	}
	// The task must not start before the node does, however long that
	// takes: its start time (the server's clock, on this host) follows.
	startedAt := time.Now()
	if _, err := bc.StartNode(c, "p", id, nil); err != nil {
		t.Fatalf("start: %v", err)
	}
	if r := e.waitTask(t, c, bc, "j", "later"); r.ExecutionInfo.StartTime == nil || deref(r.ExecutionInfo.ExitCode) != 0 ||
		r.ExecutionInfo.StartTime.Before(startedAt) {
		t.Errorf("task after start: %+v (node started at %v)", r.ExecutionInfo, startedAt)
	}
	n, err := bc.GetNode(c, "p", id, nil)
	if err != nil || n.LastBootTime == nil || !n.LastBootTime.After(*node.LastBootTime) {
		t.Errorf("the started node did not boot again: %v", err)
	}
}

// waitState waits for a node to reach state.
func waitState(t *testing.T, c context.Context, bc *azbatch.Client, pool, id string, state azbatch.NodeState) {
	t.Helper()
	eventually(t, "node "+string(state), func() error {
		n, err := bc.GetNode(c, pool, id, nil)
		if err != nil {
			return err
		}
		if *n.State != state {
			return fmt.Errorf("node is %s", *n.State)
		}
		return nil
	})
}
