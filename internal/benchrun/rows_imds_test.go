package benchrun

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The IMDS helper sends nothing unless it runs inside the Cobalt node
// namespace its configuration names: started on the host (here, with no
// namespace, another program's, or one that does not exist), it fails
// before its first request. The URL is a loopback server that counts
// requests, so a broken check sends nothing off the machine; it answers
// 500, so that a helper that does not refuse stops at its first token
// instead of starting its bare server (this test binary, which would run
// this test again).
func TestIMDSHelperRefusesOutsideANodeNamespace(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	ctx := context.Background()
	for _, ns := range []string{"", "other-ns", "cobalt-0-00000000", "../netns/cobalt-0-00000000"} {
		cfg, _ := json.Marshal(imdsHelperConfig{Netns: ns, URL: srv.URL + "/metadata/identity/oauth2/token", Clients: 1, Duration: time.Millisecond})
		if err := RunIMDSHelper(ctx, string(cfg), io.Discard); err == nil || !strings.Contains(err.Error(), "network namespace") {
			t.Errorf("netns %q: err %v, want a refusal", ns, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the helper sent %d requests from outside a node namespace", n)
	}
}
