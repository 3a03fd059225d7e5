package server

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodefiles"
)

// removeRecorder is a joined host's node files that records removals.
type removeRecorder struct {
	removed []string
	err     error
}

func (r *removeRecorder) List(context.Context, string, bool) ([]nodefiles.Info, error) {
	return nil, nil
}
func (r *removeRecorder) Stat(context.Context, string, string) (nodefiles.Info, error) {
	return nodefiles.Info{}, nil
}
func (r *removeRecorder) Open(context.Context, string, string, int64, int64) (io.ReadCloser, error) {
	return nil, errors.New("not here")
}
func (r *removeRecorder) Remove(_ context.Context, dir, name string, recursive bool) error {
	if !recursive {
		return errors.New("a task directory is removed recursively")
	}
	r.removed = append(r.removed, dir+"|"+name)
	return r.err
}

// TestTaskFileRemoverFollowsTheNode: a task's retention removes its
// directory where its node runs: on this host from the node directory, on
// a joined host through that host's file API (and only that host's), and a
// file already gone there is not an error.
func TestTaskFileRemoverFollowsTheNode(t *testing.T) {
	root := t.TempDir()
	hosts := map[string]string{"local-node": "local", "remote-node": "h1", "old-node": ""}
	nodeHost := func(_ context.Context, id string) (string, error) {
		h, ok := hosts[id]
		if !ok {
			return "", cobalt.Errorf(cobalt.ENotFound, "no node %s", id)
		}
		return h, nil
	}
	rec := &removeRecorder{}
	var asked []string
	remote := func(_ context.Context, hostID, nodeID string) (nodefiles.Source, error) {
		asked = append(asked, hostID+"/"+nodeID)
		return rec, nil
	}
	remove := taskFileRemover(root, "local", nodeHost, remote)
	ctx := context.Background()
	for _, n := range []string{"local-node", "old-node"} {
		dir := filepath.Join(root, n, "workitems", "job1", "job-1", "t1")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := remove(ctx, "acct", n, "job1", "t1"); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: the task directory is still there: %v", n, err)
		}
	}
	if len(asked) != 0 {
		t.Fatalf("local nodes went to a host's file API: %v", asked)
	}
	if err := remove(ctx, "acct", "remote-node", "job1", "t1"); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != "h1/remote-node" || len(rec.removed) != 1 || rec.removed[0] != "workitems/job1/job-1|t1" {
		t.Fatalf("remote removal: asked %v, removed %v", asked, rec.removed)
	}
	rec.err = nodefiles.ErrNotExist
	if err := remove(ctx, "acct", "remote-node", "job1", "t1"); err != nil {
		t.Fatalf("a directory already gone on the host: %v", err)
	}
	rec.err = errors.New("host unreachable")
	if err := remove(ctx, "acct", "remote-node", "job1", "t1"); err == nil {
		t.Fatal("a failed removal on the host was reported as done")
	}
	// The node directory's own name is never taken from outside it.
	if err := remove(ctx, "acct", "..", "job1", "t1"); err != nil {
		t.Fatal(err)
	}
}
