package registry

import (
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestHTTP1Only: a registry listener negotiates HTTP/1.1 even with a client
// that offers h2 first (ggcr's default transport), while its TLS config
// (shared with the other listeners) still offers h2 to them.
func TestHTTP1Only(t *testing.T) {
	e := newEnv(t)
	reg := e.registry(t, "protoreg", false)
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = e.ca.ClientTLSConfig()
	tr.TLSClientConfig.NextProtos = []string{"h2", "http/1.1"}
	resp, err := (&http.Client{Transport: tr}).Get("https://" + reg.LoginServer + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "http/1.1" {
		t.Fatalf("protocol %s, ALPN %q; want HTTP/1.1 negotiated", resp.Proto, resp.TLS.NegotiatedProtocol)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous /v2/: %d, want the 401 challenge", resp.StatusCode)
	}
	if got := e.svc.cfg.TLS.NextProtos; len(got) == 0 || got[0] != "h2" {
		t.Fatalf("the caller's TLS config was changed: NextProtos %q", got)
	}
}
