package benchrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"

	"github.com/cobaltbatch/cobalt/internal/agent"
)

// imdsHelperConfig is what the bench hands the helper it starts inside a
// node's network namespace.
type imdsHelperConfig struct {
	// Netns is the node's network namespace the helper must run in: it
	// refuses to send to URL (the IMDS address) from anywhere else.
	Netns    string        `json:"netns,omitempty"`
	URL      string        `json:"url"`
	Clients  int           `json:"clients"`
	Duration time.Duration `json:"duration"`
	// ServerPID is the process serving the node's IMDS (the control plane:
	// its host agent runs the node agents), whose CPU time the helper reads
	// around Cobalt's slices.
	ServerPID int `json:"serverPid,omitempty"`
	// Profile, if set, is where the bare server writes its CPU profile.
	Profile string `json:"profile,omitempty"`
	// Bare makes this process the bare server (see serveBare).
	Bare bool `json:"bare,omitempty"`
}

// imdsHelperResult is what the helper prints.
type imdsHelperResult struct {
	Cobalt, Bare loadResult
	Size         int
}

// imds loads a node's IMDS token endpoint (a cached token) with 32 clients
// from inside the node's network namespace, beside a bare handler serving
// the same bytes in the same namespace, in a process of its own as IMDS's
// server is; one helper process started there with nsenter runs the clients
// of both and reads both servers' CPU time.
func (b *bench) imds(ctx context.Context) []Result {
	r := Result{Row: "imds", Work: fmt.Sprintf("IMDS token from cache, 32 clients in the node's netns, %s", b.opts.Duration), Target: "≥ 0.9, p99 ≤ 1.2×"}
	fail := func(err error) []Result { r.Err = err; return []Result{r} }
	if unprivileged() {
		return fail(fmt.Errorf("needs root: without it nodes are processes, with no network namespace of their own"))
	}
	ids, err := armmsi.NewUserAssignedIdentitiesClient(b.d.ep.SubscriptionID, b.d.cred, &arm.ClientOptions{ClientOptions: b.d.opts})
	if err != nil {
		return fail(err)
	}
	id, err := ids.CreateOrUpdate(ctx, group, "bench-id", armmsi.Identity{Location: to.Ptr(b.d.ep.Location)}, nil)
	if err != nil {
		return fail(err)
	}
	if _, err := b.d.armDo(ctx, http.MethodPut, b.d.poolPath("imds"), poolBody(b.d.ep, 1, 1, *id.ID)); err != nil {
		return fail(err)
	}
	nodes, err := b.d.waitIdle(ctx, "imds", 1, 3*time.Minute)
	if err != nil {
		return fail(err)
	}
	nsName := agent.NamespaceName(b.child.pid(), nodes[0])
	netns := filepath.Join(agent.NetnsDir, nsName)
	if _, err := os.Stat(netns); err != nil {
		return fail(fmt.Errorf("the node's network namespace: %w", err))
	}
	q := url.Values{"api-version": {"2018-02-01"}, "resource": {"https://management.azure.com/"}, "client_id": {*id.Properties.ClientID}}
	hc := imdsHelperConfig{Netns: nsName, URL: "http://" + agent.IMDSAddress + "/metadata/identity/oauth2/token?" + q.Encode(),
		Clients: 32, Duration: b.opts.Duration, ServerPID: b.child.pid()}
	if b.opts.Profile {
		hc.Profile = filepath.Join(b.dir, "imds-bare.pprof")
	}
	cfg, _ := json.Marshal(hc)
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+netns, "--", b.opts.Exe, "bench", "--imds-helper", string(cfg))
	cmd.Stdout, cmd.Stderr = &out, &errb
	stop := b.profile(ctx, "imds", 2*b.opts.Duration)
	err = cmd.Run()
	stop()
	if err := b.d.deletePool(ctx, "imds"); err != nil {
		b.logf("imds: delete pool: %v", err)
	}
	if err != nil {
		return fail(fmt.Errorf("imds helper: %v: %s", err, errb.String()))
	}
	var res imdsHelperResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return fail(fmt.Errorf("imds helper output: %w", err))
	}
	return []Result{compare(r, res.Cobalt, res.Bare, 0.9, 1.2, res.Size)}
}

// RunIMDSHelper is the helper's side (cobalt bench --imds-helper CONFIG),
// run inside a node's network namespace: it fetches one token to warm the
// cache, starts the bare server (this executable again, see serveBare) on
// loopback serving the same bytes, loads IMDS and the bare server with
// cfg.Clients clients each, alternating, and prints both as JSON.
//
// The bare server is a process of its own, as IMDS's server is (the control
// plane): with the clients and the server in one process, Go's scheduler
// hands each request between them without the kernel's switch between two
// processes, so the baseline's rate measured the process layout more than the
// handler (Cobalt got 0.69-0.83 of it at load 2-3, 1.2-2.2 at load 10-22,
// one process's threads against two).
func RunIMDSHelper(ctx context.Context, config string, out io.Writer) error {
	var cfg imdsHelperConfig
	if err := json.Unmarshal([]byte(config), &cfg); err != nil {
		return err
	}
	if cfg.Bare {
		return serveBare(os.Stdin, out, cfg.Profile)
	}
	if !agent.InNodeNamespace(cfg.Netns) {
		return fmt.Errorf("the IMDS helper runs only inside a Cobalt node's network namespace (nsenter --net=%s), not %q", agent.NetnsDir+"/NAME", cfg.Netns)
	}
	get := func(tr http.RoundTripper, u string) ([]byte, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		req.Header.Set("Metadata", "true")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
		}
		return b, resp.Header.Get("Content-Type"), err
	}
	plain := func() *http.Transport { return &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true} }
	body, ctype, err := get(plain(), cfg.URL)
	if err != nil {
		return fmt.Errorf("first IMDS token: %w", err)
	}
	loader := func(u string) func() worker {
		return func() worker {
			tr := plain()
			return func(context.Context) error { _, _, err := get(tr, u); return err }
		}
	}
	res := imdsHelperResult{Size: len(body)}
	bare, err := startBare(ctx, bareBody{ContentType: ctype, Body: body}, cfg.Profile)
	if err != nil {
		return err
	}
	var cpuCobalt, cpuBare func() time.Duration
	if cfg.ServerPID > 0 {
		cpuCobalt, cpuBare = cpuOf(cfg.ServerPID), cpuOf(bare.pid)
	}
	res.Cobalt, res.Bare = runPairCPU(ctx, cfg.Clients, cfg.Duration, loader(cfg.URL),
		loader("http://"+bare.addr+strings.TrimPrefix(cfg.URL, "http://"+agent.IMDSAddress)), cpuCobalt, cpuBare)
	if err := bare.stop(); err != nil {
		return fmt.Errorf("bare server: %w", err)
	}
	return json.NewEncoder(out).Encode(res)
}

// cpuOf reads a process's CPU time so far (0 if it cannot).
func cpuOf(pid int) func() time.Duration {
	return func() time.Duration {
		d, _ := processCPU(pid)
		return d
	}
}
