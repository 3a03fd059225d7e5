package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/server/servertest"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// publicTestAddr is the public address the tests give the control plane, on
// an interface inside the test's own loopback-only namespace.
const publicTestAddr = "10.77.0.1"

// TestPublicAddress: with --public-address every URL of endpoints.json and
// every endpoint the management plane renders names the address; the
// certificate covers it; listeners accept on it and on 127.0.0.1; a task in
// a netns node reaches the services at the public URLs.
func TestPublicAddress(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		testenv.Unavailable(t, "netns isolation (root, Linux, ip netns)")
	}
	testenv.AddAddresses(t, "pub0", publicTestAddr)
	t.Cleanup(func() { removeOwnNamespaces(t) })
	s := servertest.Start(t, server.Options{Isolation: agent.IsolationNetns, PublicAddress: publicTestAddr})
	data := s.DataDir()
	t.Setenv("COBALT_DATA", data)
	t.Setenv("COBALT_CONFIG_DIR", filepath.Join(t.TempDir(), "config"))
	t.Setenv("AZURE_BATCH_ACCOUNT", "acct1")

	e, err := server.ReadEndpoints(data)
	if err != nil {
		t.Fatal(err)
	}
	for name, u := range map[string]string{"authorityHost": e.AuthorityHost, "resourceManager": e.ResourceManager, "portal": e.Portal} {
		if pu, err := url.Parse(u); err != nil || pu.Hostname() != publicTestAddr {
			t.Errorf("endpoints.json %s = %q, want host %s", name, u, publicTestAddr)
		}
	}
	// The certificate verifies for the public address, and 127.0.0.1 still serves.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CA().CertPool()}}}
	disco := "/" + e.TenantID + "/v2.0/.well-known/openid-configuration"
	pu, _ := url.Parse(e.AuthorityHost)
	for _, base := range []string{e.AuthorityHost, "https://" + net.JoinHostPort("127.0.0.1", pu.Port())} {
		resp, err := client.Get(base + disco)
		if err != nil {
			t.Fatalf("GET %s: %v", base, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", base, resp.Status)
		}
	}

	cobaltCLI(t, "login")
	cobaltCLI(t, "group", "create", "-n", "rg1")
	cobaltCLI(t, "storage", "account", "create", "-g", "rg1", "-n", "sa1")
	acct := cobaltCLI(t, "batch", "account", "create", "-g", "rg1", "-n", "acct1")
	if ep := jsonField(t, acct, "properties", "accountEndpoint"); !strings.HasPrefix(ep, publicTestAddr+":") {
		t.Errorf("accountEndpoint %q does not name the public address", ep)
	}
	sa := cobaltCLI(t, "storage", "account", "show", "-g", "rg1", "-n", "sa1")
	var sav struct {
		Properties struct {
			PrimaryEndpoints struct {
				Blob string `json:"blob"`
			} `json:"primaryEndpoints"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(sa, &sav); err != nil {
		t.Fatal(err)
	}
	if bu, err := url.Parse(sav.Properties.PrimaryEndpoints.Blob); err != nil || bu.Hostname() != publicTestAddr {
		t.Errorf("primaryEndpoints.blob = %q, want host %s", sav.Properties.PrimaryEndpoints.Blob, publicTestAddr)
	}

	cobaltCLI(t, "batch", "pool", "create", "--account-name", "acct1", "--id", "p1", "--vm-size", "STANDARD_D2S_V3",
		"--image", "canonical:0001-com-ubuntu-server-jammy:22_04-lts:latest", "--node-agent-sku-id", "batch.node.ubuntu 22.04",
		"--target-dedicated-nodes", "1", "--wait")
	cobaltCLI(t, "batch", "job", "create", "--id", "j1", "--pool-id", "p1")
	// Inside the node, the public URL of the login service answers, with a
	// certificate the node's CA bundle trusts.
	cobaltCLI(t, "batch", "task", "create", "--job-id", "j1", "--task-id", "disco", "--wait",
		"--command-line", "curl -sS --fail "+e.AuthorityHost+disco)
	out := cobaltCLI(t, "batch", "task", "file", "download", "--job-id", "j1", "--task-id", "disco", "--file-path", "stdout.txt")
	if iss := jsonField(t, bytes.TrimSpace(out), "issuer"); !strings.Contains(iss, publicTestAddr) {
		t.Errorf("discovery inside the node: issuer %q, output %s", iss, out)
	}
}
