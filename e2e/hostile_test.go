package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"

	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/server"
)

// hostileScript tries every escape the sandbox must stop; each check prints
// "NAME blocked" or "NAME ESCAPED", then the task does its own work.
const hostileScript = `
check() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name ESCAPED"; else echo "$name blocked"; fi; }
check read-seal-key cat DATA/seal.key
check read-database cat DATA/cobalt.db
check read-endpoints cat DATA/endpoints.json
check list-data-dir ls DATA
check read-other-pool ls OTHERNODE/workitems
check write-other-pool sh -c 'echo x > OTHERNODE/shared/planted'
check signal-cobalt kill -0 COBALTPID
check read-cobalt-environ cat /proc/COBALTPID/environ
check host-processes sh -c 'test $(ls /proc | grep -c "^[0-9]") -gt 40'
check mount-data-dir sh -c 'mkdir -p /tmp/m && mount --bind DATA /tmp/m && ls /tmp/m'
check unshare-read unshare -Urm cat DATA/seal.key
check write-etc sh -c 'echo x > /etc/cobalt-planted'
check host-loopback curl -sf --max-time 5 http://127.0.0.1:PORT/
echo own-work > "$AZ_BATCH_TASK_WORKING_DIR/result" && cat "$AZ_BATCH_TASK_WORKING_DIR/result"
`

// TestHostileTasksEndToEnd runs hostile tasks, admin and non-admin, on a
// real pool's node under the whole control plane, next to another
// account's pool: none reaches the data directory, the other pool's node,
// the cobalt process or a host loopback service, and links a task plants
// are not followed by the file API; the tasks' own work succeeds.
func TestHostileTasksEndToEnd(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		t.Skip("node sandboxes are not available here")
	}
	t.Parallel()
	e := startWith(t, server.Options{Isolation: "netns"})
	c := ctx(t)
	data := e.DataDir
	endpoint := e.plainPool(t, c, "pa", 1, 1)
	other := e.plainPool(t, c, "pb", 1, 1)
	bc := e.batchClient(t, endpoint)
	e.waitIdleNode(t, c, bc, "pa")
	nodeB := e.waitIdleNode(t, c, e.batchClient(t, other), "pb")
	otherDir := findNodeDir(t, data, e.EP.SubscriptionID, deref(nodeB.ID))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write([]byte("HTTP/1.0 200 OK\r\n\r\nhost-only\n"))
			conn.Close()
		}
	}()
	script := strings.NewReplacer("DATA", data, "OTHERNODE", otherDir, "COBALTPID", strconv.Itoa(os.Getpid()),
		"PORT", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)).Replace(hostileScript)

	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("j"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("pa")}}, nil); err != nil {
		t.Fatal(err)
	}
	admin := &azbatch.UserIdentity{AutoUser: &azbatch.AutoUserSpecification{ElevationLevel: to.Ptr(azbatch.ElevationLevelAdmin),
		Scope: to.Ptr(azbatch.AutoUserScopeTask)}}
	nonAdmin := &azbatch.UserIdentity{AutoUser: &azbatch.AutoUserSpecification{ElevationLevel: to.Ptr(azbatch.ElevationLevelNonAdmin),
		Scope: to.Ptr(azbatch.AutoUserScopePool)}}
	for id, user := range map[string]*azbatch.UserIdentity{"admin": admin, "nonadmin": nonAdmin} {
		if _, err := bc.CreateTask(c, "j", azbatch.CreateTaskContent{ID: to.Ptr(id), CommandLine: to.Ptr("/bin/sh -c " + shellQuote(script)),
			UserIdentity: user}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// An admin task plants links to host files where the file API reads.
	plant := `ln -s DATA/seal.key $AZ_BATCH_TASK_DIR/seal.txt; ln -s /etc/shadow $AZ_BATCH_TASK_DIR/shadow.txt; ` +
		`ln -s / $AZ_BATCH_TASK_WORKING_DIR/root; echo planted`
	if _, err := bc.CreateTask(c, "j", azbatch.CreateTaskContent{ID: to.Ptr("plant"),
		CommandLine: to.Ptr("/bin/sh -c " + shellQuote(strings.ReplaceAll(plant, "DATA", data))), UserIdentity: admin}, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"admin", "nonadmin"} {
		tk := e.waitTask(t, c, bc, "j", id)
		out := e.taskFile(t, c, bc, "j", id, "stdout.txt")
		if deref(tk.ExecutionInfo.ExitCode) != 0 || !strings.Contains(out, "own-work") {
			t.Errorf("%s: the task's own work failed (exit %d):\n%s\n%s", id, deref(tk.ExecutionInfo.ExitCode), out,
				e.taskFile(t, c, bc, "j", id, "stderr.txt"))
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasSuffix(line, " ESCAPED") {
				t.Errorf("%s: %s", id, line)
			}
		}
		if !strings.Contains(out, "read-seal-key blocked") {
			t.Errorf("%s: the checks did not run:\n%s", id, out)
		}
	}
	e.waitTask(t, c, bc, "j", "plant")
	if out := e.taskFile(t, c, bc, "j", "plant", "stdout.txt"); strings.TrimSpace(out) != "planted" {
		t.Fatalf("the links were not planted: %q", out)
	}
	seal, _ := os.ReadFile(filepath.Join(data, "seal.key"))
	for _, f := range []string{"seal.txt", "shadow.txt", "wd/root/etc/shadow"} {
		got := e.taskFile(t, c, bc, "j", "plant", f)
		t.Logf("%s: %.80q", f, got)
		if (len(seal) > 0 && strings.Contains(got, string(seal))) || strings.Contains(got, "root:") {
			t.Errorf("the file API followed the planted link %s to a host file", f)
		}
	}
	if _, err := os.Stat(filepath.Join(otherDir, "shared", "planted")); err == nil {
		t.Error("a task wrote into another pool's node")
	}
	if _, err := os.Stat("/etc/cobalt-planted"); err == nil {
		os.Remove("/etc/cobalt-planted")
		t.Error("a task wrote into the host's /etc")
	}
}

// findNodeDir is the host directory of the node nodeID: under the data
// directory, or under the installation's node directory in the system's
// temporary directory (named for its subscription).
func findNodeDir(t *testing.T, data, subscription, nodeID string) string {
	t.Helper()
	var found string
	roots := []string{data}
	if len(subscription) >= 8 {
		roots = append(roots, filepath.Join(os.TempDir(), "cobalt-nodes-"+subscription[:8]))
	}
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && d.Name() == nodeID {
				found = p
				return filepath.SkipAll
			}
			return nil
		})
		if found != "" {
			break
		}
	}
	if found == "" {
		t.Fatalf("no directory for node %s under %s", nodeID, data)
	}
	return found
}
