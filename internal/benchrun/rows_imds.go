package benchrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
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
	URL      string        `json:"url"`
	Clients  int           `json:"clients"`
	Duration time.Duration `json:"duration"`
}

// imdsHelperResult is what the helper prints.
type imdsHelperResult struct {
	Cobalt, Bare loadResult
	Size         int
}

// imds loads a node's IMDS token endpoint (a cached token) with 32 clients
// from inside the node's network namespace, beside a bare handler serving
// the same bytes in the same namespace, both measured by one helper process
// started there with nsenter.
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
	netns := filepath.Join("/run/netns", agent.NamespaceName(b.child.pid(), nodes[0]))
	if _, err := os.Stat(netns); err != nil {
		return fail(fmt.Errorf("the node's network namespace: %w", err))
	}
	q := url.Values{"api-version": {"2018-02-01"}, "resource": {"https://management.azure.com/"}, "client_id": {*id.Properties.ClientID}}
	cfg, _ := json.Marshal(imdsHelperConfig{URL: "http://169.254.169.254/metadata/identity/oauth2/token?" + q.Encode(),
		Clients: 32, Duration: b.opts.Duration})
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
// cache, loads IMDS with cfg.Clients clients for cfg.Duration, then a bare
// handler on loopback serving the same bytes, and prints both as JSON.
func RunIMDSHelper(ctx context.Context, config string, out io.Writer) error {
	var cfg imdsHelperConfig
	if err := json.Unmarshal([]byte(config), &cfg); err != nil {
		return err
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: bareHandler(body, ctype)}
	go srv.Serve(ln)
	defer srv.Close()
	res.Cobalt, res.Bare = runPair(ctx, cfg.Clients, cfg.Duration, loader(cfg.URL),
		loader("http://"+ln.Addr().String()+strings.TrimPrefix(cfg.URL, "http://169.254.169.254")))
	return json.NewEncoder(out).Encode(res)
}
