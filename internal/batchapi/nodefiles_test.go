package batchapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/nodefiles"
)

// onePool answers NodeGet with nodes placed on the host named by their ID.
type onePool struct{ Pools }

func (onePool) NodeGet(_ context.Context, _, _, nodeID string) (*batch.Node, error) {
	host := map[string]string{"n-local": "local", "n-old": "", "n-remote": "h2"}[nodeID]
	return &batch.Node{Node: cobalt.Node{ID: nodeID, HostID: host}}, nil
}

// unreachable is a remote source whose host does not answer.
type unreachable struct{}

func (unreachable) List(context.Context, string, bool) ([]nodefiles.Info, error) {
	return nil, nodefiles.ErrUnreachable
}
func (unreachable) Stat(context.Context, string, string) (nodefiles.Info, error) {
	return nodefiles.Info{}, fmt.Errorf("dial: %w", nodefiles.ErrUnreachable)
}
func (unreachable) Open(context.Context, string, string, int64, int64) (io.ReadCloser, error) {
	return nil, nodefiles.ErrUnreachable
}
func (unreachable) Remove(context.Context, string, string, bool) error {
	return nodefiles.ErrUnreachable
}

// TestNodeFilesDispatch: a node on this host (or from before hosts) is
// read locally, one on another host through the remote source; a host
// that does not answer makes the request a 503 ServerBusy, not a 500.
func TestNodeFilesDispatch(t *testing.T) {
	var asked []string
	nf := NodeFilesOf(onePool{}, "/base", "local", func(_ context.Context, hostID, nodeID string) (nodefiles.Source, error) {
		asked = append(asked, hostID+"/"+nodeID)
		return unreachable{}, nil
	})
	for node, want := range map[string]string{"n-local": "/base/n-local", "n-old": "/base/n-old"} {
		src, err := nf.NodeFiles(context.Background(), "a", "p", node)
		if l, ok := src.(nodefiles.Local); err != nil || !ok || string(l) != want {
			t.Errorf("%s: %#v, %v; want Local(%s)", node, src, err, want)
		}
	}
	src, err := nf.NodeFiles(context.Background(), "a", "p", "n-remote")
	if err != nil || len(asked) != 1 || asked[0] != "h2/n-remote" {
		t.Fatalf("remote node: %v, asked %v", err, asked)
	}
	s := newTestService(t, testNow)
	w := httptest.NewRecorder()
	rc := &reqCtx{s: s, w: w, r: httptest.NewRequest("GET", "https://127.0.0.1:1/x", nil), requestID: "r"}
	if err := rc.serveFile(fileRoot{src: src}, "stdout.txt", "/pools/p/nodes/n-remote/files/"); err != nil {
		rc.writeError(err)
	}
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("unreachable host: %d %s, want 503", w.Code, w.Body)
	}
}
