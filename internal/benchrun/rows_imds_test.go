package benchrun

import (
	"bufio"
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

// The bare server serves the body it was handed on the address it prints,
// and returns when its input is closed.
func TestServeBare(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serveBare(inR, outW, "") }()
	if err := json.NewEncoder(inW).Encode(bareBody{ContentType: "application/json; charset=utf-8", Body: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	addr, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + strings.TrimSpace(addr) + "/metadata/identity/oauth2/token?x=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != `{"a":1}` || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("got %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

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
