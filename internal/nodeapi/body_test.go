package nodeapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestBodyRefusedOnEveryCall: each call decodes its body once, into its own
// request type; a body that is not JSON, or whose fields have the wrong
// types, is refused as InvalidRequest, and one naming another node as
// Forbidden, on every call, before the call acts.
func TestBodyRefusedOnEveryCall(t *testing.T) {
	f := newJobsFixture(t)
	f.register(t)
	paths := []string{nodeproto.PathRegister, nodeproto.PathHeartbeat, nodeproto.PathLease, nodeproto.PathReport, nodeproto.PathReports, nodeproto.PathToken}
	for _, path := range paths {
		for _, c := range []struct {
			body     string
			status   int
			code     string
			contains string
		}{
			{`{"nodeId":`, 400, "InvalidRequest", "not valid JSON"},
			{`not json`, 400, "InvalidRequest", "not valid JSON"},
			{`{"nodeId":7}`, 400, "InvalidRequest", "not valid:"},
			{`{"nodeId":"tvmps_other_d"}`, 403, "Forbidden", "another node"},
		} {
			req, _ := http.NewRequest("POST", f.srv.URL+path, bytes.NewReader([]byte(c.body)))
			req.Header.Set("Authorization", "Bearer "+f.node.Credential)
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var e nodeproto.Error
			_ = json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			if resp.StatusCode != c.status || e.Code != c.code || !bytes.Contains([]byte(e.Message), []byte(c.contains)) {
				t.Errorf("%s %s: %d %+v, want %d %s (%q)", path, c.body, resp.StatusCode, e, c.status, c.code, c.contains)
			}
		}
	}
	// Nothing above acted: the node is still idle and answers a heartbeat.
	if cmds := f.heartbeat(t); len(cmds) != 0 {
		t.Errorf("heartbeat commands %v after refused requests", cmds)
	}
}
