package batch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

func TestCheckLogUpload(t *testing.T) {
	start := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	ok := LogUploadSpec{ContainerURL: "https://acct.blob.example/logs?sv=1&sig=abc", StartTime: start}
	if err := checkLogUpload(ok); err != nil {
		t.Fatalf("valid SAS upload: %v", err)
	}
	withID := LogUploadSpec{ContainerURL: "https://127.0.0.1:1/acct/logs", IdentityResourceID: "/subscriptions/s/x", StartTime: start}
	if err := checkLogUpload(withID); err != nil {
		t.Fatalf("valid identity upload: %v", err)
	}
	for name, spec := range map[string]LogUploadSpec{
		"no container":      {StartTime: start},
		"no start":          {ContainerURL: ok.ContainerURL},
		"no SAS, no id":     {ContainerURL: "https://acct.blob.example/logs", StartTime: start},
		"not a URL":         {ContainerURL: "::", StartTime: start},
		"other scheme":      {ContainerURL: "file:///etc?sig=x", StartTime: start},
		"no container path": {ContainerURL: "https://acct.blob.example/?sig=x", StartTime: start},
		"end before start":  {ContainerURL: ok.ContainerURL, StartTime: start, EndTime: start.Add(-time.Second)},
	} {
		if err := checkLogUpload(spec); !cobalt.IsCode(err, cobalt.EInvalid) {
			t.Errorf("%s: %v, want an invalid-value error", name, err)
		}
	}
}

func FuzzCheckLogUpload(f *testing.F) {
	f.Add("https://acct.blob.example/logs?sig=abc", "", int64(0), int64(0))
	f.Add("http://[::1]:80/a/b", "/subscriptions/x", int64(1), int64(-1))
	f.Fuzz(func(t *testing.T, u, id string, s, e int64) {
		err := checkLogUpload(LogUploadSpec{ContainerURL: u, IdentityResourceID: id, StartTime: time.Unix(s, 0), EndTime: time.Unix(e, 0)})
		if err != nil && !cobalt.IsCode(err, cobalt.EInvalid) {
			t.Fatalf("%q: %v", u, err)
		}
	})
}

// A node reports only results of uploads asked of it: an ID it was not
// given (another node's, or made up) records nothing, and the results a
// node keeps are bounded.
func TestRecordLogResultsOnlyAsked(t *testing.T) {
	x := &Node{LogUploads: []nodeproto.LogUpload{{ID: "mine"}}}
	recordLogResults(x, []nodeproto.LogUploadResult{{ID: "other-node", Files: 9}, {ID: "mine", Files: 2}, {ID: "mine", Files: 5}})
	if len(x.LogUploads) != 0 || len(x.LogResults) != 1 || x.LogResults[0] != (nodeproto.LogUploadResult{ID: "mine", Files: 2}) {
		t.Fatalf("pending %+v results %+v", x.LogUploads, x.LogResults)
	}
	for i := range maxLogResults + 3 {
		id := string(rune('a' + i))
		x.LogUploads = append(x.LogUploads, nodeproto.LogUpload{ID: id})
		recordLogResults(x, []nodeproto.LogUploadResult{{ID: id, Error: string(make([]byte, 5000))}})
	}
	if len(x.LogResults) != maxLogResults || len(x.LogResults[0].Error) != 1024 {
		t.Fatalf("%d results kept, first error %d bytes", len(x.LogResults), len(x.LogResults[0].Error))
	}
}

// TestNodeUploadLogsRoundTrip: a node that never registered is not ready;
// an identity the node did not carry is refused; otherwise the request
// waits for the node's report and answers with its count, or with
// FileUploadMiscError and storage's message.
func TestNodeUploadLogsRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	e.put("p1", armPool(1))
	e.settle("p1")
	n := e.nodes_("p1")[0]
	spec := LogUploadSpec{ContainerURL: "https://acct.blob.example/logs?sig=abc", StartTime: time.Now().Add(-time.Hour)}
	if _, err := e.svc.NodeUploadLogs(ctx, e.acct.Key(), "p1", n.ID, spec); cobalt.ErrorReason(err) != reasonNodeNotReady {
		t.Fatalf("unregistered node: %v", err)
	}
	if _, err := e.svc.NodeRegister(ctx, n, nodeproto.RegisterRequest{NodeID: n.ID}); err != nil {
		t.Fatal(err)
	}
	e.heartbeat(n.ID, "idle")
	foreign := spec
	foreign.ContainerURL, foreign.IdentityResourceID = "https://acct.blob.example/logs", "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/other"
	if _, err := e.svc.NodeUploadLogs(ctx, e.acct.Key(), "p1", n.ID, foreign); cobalt.ErrorReason(err) != reasonInvalidIdentityRf {
		t.Fatalf("foreign identity: %v", err)
	}

	// The node: answers each upload it is given with report(upload).
	agent := func(report func(nodeproto.LogUpload) nodeproto.LogUploadResult) {
		for {
			x, err := e.svc.NodeGet(ctx, e.acct.Key(), "p1", n.ID)
			if err != nil {
				return
			}
			if len(x.LogUploads) > 0 {
				_, _ = e.svc.NodeHeartbeat(ctx, x, nodeproto.HeartbeatRequest{NodeID: n.ID, State: "idle",
					LogUploads: []nodeproto.LogUploadResult{report(x.LogUploads[0])}})
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	go agent(func(u nodeproto.LogUpload) nodeproto.LogUploadResult {
		return nodeproto.LogUploadResult{ID: u.ID, Files: 2}
	})
	res, err := e.svc.NodeUploadLogs(ctx, e.acct.Key(), "p1", n.ID, spec)
	if err != nil || res.NumberOfFilesUploaded != 2 || !strings.HasPrefix(res.VirtualDirectoryName, "p1/"+n.ID+"/") {
		t.Fatalf("upload: %+v %v", res, err)
	}
	go agent(func(u nodeproto.LogUpload) nodeproto.LogUploadResult {
		return nodeproto.LogUploadResult{ID: u.ID, Error: "HTTP 403 Forbidden (AuthorizationPermissionMismatch)"}
	})
	_, err = e.svc.NodeUploadLogs(ctx, e.acct.Key(), "p1", n.ID, spec)
	if cobalt.ErrorReason(err) != reasonLogsUploadFailed || !strings.Contains(err.Error(), "403") {
		t.Fatalf("failed upload: %v", err)
	}
	x, _ := e.svc.NodeGet(ctx, e.acct.Key(), "p1", n.ID)
	if len(x.LogUploads) != 0 || len(x.LogResults) != 0 {
		t.Errorf("left on the node: %+v %+v", x.LogUploads, x.LogResults)
	}
}
