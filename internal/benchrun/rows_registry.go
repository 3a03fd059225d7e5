package benchrun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerregistry/armcontainerregistry"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// registryRows are the rows of the registry group (push and pull).
var registryRows = []string{"registry"}

func init() { Rows = append(Rows, registryRows...) }

const (
	registryLayerBytes = 200 << 20
	registryRounds     = 3
	registryTarget     = 0.3
)

// registryShape is an image of the registry row: the same 200 MiB as one
// layer, or as several layers pushed and pulled concurrently.
type registryShape struct {
	layers     int
	push, pull Result
	// MB/s of each round: the baselines, the push and the pull.
	cp, cpSync, up, down []float64
}

// registry pushes and pulls an image with one fresh random 200 MiB layer
// (uncompressed, so that gzip is not measured) with go-containerregistry's
// default transport to a registry of the child, over TLS with ACR's token
// flow (an Entra token exchanged for a refresh token, then access tokens),
// three rounds; each round also copies the same file with cp(1), and with
// cp and an fsync of the copy, as the baselines. Each round then does the
// same with the same amount as 4 layers of 50 MiB, pushed with ggcr's 4
// jobs and pulled 4 at a time, as container runtimes pull an image's
// layers: one layer's SHA-256 is sequential, so a one-layer pull is bound
// by one core of the client, where several layers can use every core.
func (b *bench) registry(ctx context.Context) []Result {
	shapes := []*registryShape{
		{layers: 1,
			push: Result{Row: "registry", Work: "push of a 200 MiB image (ggcr, TLS, token flow; 3 rounds)", Target: "≥ 0.3 of cp"},
			pull: Result{Row: "registry", Work: "pull of the same image to a file (ggcr; 3 rounds)", Target: "≥ 0.3 of cp"}},
		{layers: 4,
			push: Result{Row: "registry", Work: "push of a 200 MiB image as 4 layers × 50 MiB (ggcr, 4 jobs; 3 rounds)", Target: "≥ 0.3 of cp"},
			pull: Result{Row: "registry", Work: "pull of those 4 layers, 4 at a time, to files (ggcr; 3 rounds)", Target: "≥ 0.3 of cp"}},
	}
	results := func() []Result {
		var out []Result
		for _, sh := range shapes {
			out = append(out, sh.push, sh.pull)
		}
		return out
	}
	fail := func(err error) []Result {
		for _, sh := range shapes {
			sh.push.Err, sh.pull.Err = err, err
		}
		return results()
	}
	login, err := b.d.createRegistry(ctx, "benchacr")
	if err != nil {
		return fail(err)
	}
	refresh, err := b.d.acrExchange(ctx, login)
	if err != nil {
		return fail(err)
	}
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = b.d.roots
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(tr),
		remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: nullGUID, IdentityToken: refresh}))}
	dir := filepath.Join(b.dir, "registry")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	mbps := func(d time.Duration) float64 { return registryLayerBytes / 1e6 / d.Seconds() }
	// The shapes alternate round by round, so that a busy machine's drift
	// lands on both.
	for round := 1; round <= registryRounds; round++ {
		for _, sh := range shapes {
			t, err := registryRound(ctx, dir, round, sh.layers, login, opts, b)
			if err != nil {
				return fail(fmt.Errorf("%d layers, round %d: %w", sh.layers, round, err))
			}
			sh.cp, sh.cpSync = append(sh.cp, mbps(t.cp)), append(sh.cpSync, mbps(t.cpSync))
			sh.up, sh.down = append(sh.up, mbps(t.push)), append(sh.down, mbps(t.pull))
			b.logf("registry %d layer(s) round %d: cp %.0f, cp+fsync %.0f, push %.0f, pull %.0f MB/s; CPU (cobalt up, client) push %s, %s; pull %s, %s",
				sh.layers, round, sh.cp[round-1], sh.cpSync[round-1], sh.up[round-1], sh.down[round-1],
				t.pushCPU[0].Round(time.Millisecond), t.pushCPU[1].Round(time.Millisecond), t.pullCPU[0].Round(time.Millisecond), t.pullCPU[1].Round(time.Millisecond))
		}
	}
	for _, sh := range shapes {
		fill := func(r *Result, fig []float64) {
			r.Figure = joinf(fig, "%.0f") + " MB/s"
			r.Baseline = "cp " + joinf(sh.cp, "%.0f") + " MB/s; cp+fsync " + joinf(sh.cpSync, "%.0f") + " MB/s"
			ratio, ratioSync := make([]float64, len(fig)), make([]float64, len(fig))
			for i := range fig {
				ratio[i], ratioSync[i] = fig[i]/sh.cp[i], fig[i]/sh.cpSync[i]
			}
			r.Ratio = joinf(ratio, "%.2f") + " (of cp+fsync: " + joinf(ratioSync, "%.2f") + ")"
			r.OK = slices.Min(ratio) >= registryTarget
		}
		fill(&sh.push, sh.up)
		fill(&sh.pull, sh.down)
	}
	return results()
}

// registryTimes are one round's durations.
type registryTimes struct {
	cp, cpSync, push, pull time.Duration
	// The CPU time the child and the bench spent pushing and pulling.
	pushCPU, pullCPU [2]time.Duration
}

// registryRound writes fresh random layers (registryLayerBytes in all),
// copies them twice with one cp(1) (cp; cp and fsync), pushes them as one
// image (ggcr's default of 4 concurrent uploads) and pulls the layers back
// to files, all at once.
func registryRound(ctx context.Context, dir string, round, layers int, login string, opts []remote.Option, b *bench) (registryTimes, error) {
	var t registryTimes
	var srcs, dsts []string
	var ls []v1.Layer
	for i := range layers {
		src := filepath.Join(dir, fmt.Sprintf("layer%d.bin", i))
		layer, err := writeRandomLayer(src, registryLayerBytes/int64(layers), uint64(b.run)<<16|uint64(layers)<<8|uint64(round)<<4|uint64(i))
		if err != nil {
			return t, err
		}
		defer os.Remove(src)
		srcs, ls = append(srcs, src), append(ls, layer)
		dsts = append(dsts, filepath.Join(dir, "copy", filepath.Base(src)))
	}
	copyAll := func(sync bool) (time.Duration, error) {
		defer os.RemoveAll(filepath.Join(dir, "copy"))
		if err := os.Mkdir(filepath.Join(dir, "copy"), 0o700); err != nil {
			return 0, err
		}
		start := time.Now()
		if out, err := exec.CommandContext(ctx, "cp", append(srcs, filepath.Join(dir, "copy"))...).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("cp: %v: %s", err, out)
		}
		for _, d := range dsts {
			if sync {
				if err := fsyncFile(d); err != nil {
					return 0, err
				}
			}
		}
		return time.Since(start), nil
	}
	var err error
	if t.cp, err = copyAll(false); err != nil {
		return t, err
	}
	if t.cpSync, err = copyAll(true); err != nil {
		return t, err
	}

	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		return t, err
	}
	ref, err := name.ParseReference(fmt.Sprintf("%s/bench/random:l%dr%d", login, layers, round))
	if err != nil {
		return t, err
	}
	var wait func()
	if round == 1 {
		prof := "registry"
		if layers > 1 {
			prof = fmt.Sprintf("registry-%dlayers", layers)
		}
		wait = b.profile(ctx, prof, b.opts.Duration)
		stop := b.selfProfile(prof + "-client")
		defer stop()
	}
	cpu0 := cpuTimes(b.child.pid())
	start := time.Now()
	if err := remote.Write(ref, img, append(opts, remote.WithJobs(4))...); err != nil {
		return t, fmt.Errorf("push: %w", err)
	}
	t.push = time.Since(start)
	cpu1 := cpuTimes(b.child.pid())

	start = time.Now()
	n, err := pullLayers(ref, filepath.Join(dir, "pulled"), layers, opts)
	if err != nil {
		return t, fmt.Errorf("pull: %w", err)
	}
	if n != registryLayerBytes {
		return t, fmt.Errorf("pull: %d bytes, want %d", n, registryLayerBytes)
	}
	t.pull = time.Since(start)
	cpu2 := cpuTimes(b.child.pid())
	t.pushCPU = [2]time.Duration{cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]}
	t.pullCPU = [2]time.Duration{cpu2[0] - cpu1[0], cpu2[1] - cpu1[1]}
	os.RemoveAll(filepath.Join(dir, "pulled"))
	if wait != nil {
		wait()
	}
	return t, nil
}

// pullLayers pulls ref's layers (it must have want of them) into files
// under dir, all at once, and returns the bytes pulled; ggcr checks each
// layer's digest at its EOF.
func pullLayers(ref name.Reference, dir string, want int, opts []remote.Option) (int64, error) {
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return 0, err
	}
	ls, err := img.Layers()
	if err != nil {
		return 0, err
	}
	if len(ls) != want {
		return 0, fmt.Errorf("%d layers, want %d", len(ls), want)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	ns, errs := make([]int64, len(ls)), make([]error, len(ls))
	for i, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ns[i], errs[i] = pullLayer(l, filepath.Join(dir, fmt.Sprintf("layer%d.bin", i)))
		}()
	}
	wg.Wait()
	var total int64
	for _, n := range ns {
		total += n
	}
	return total, errors.Join(errs...)
}

// pullLayer copies one layer into the file dst.
func pullLayer(l v1.Layer, dst string) (int64, error) {
	rc, err := l.Compressed()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	f, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// cpuTimes returns the user+system CPU time of process pid and of this
// process (with their exited children).
func cpuTimes(pid int) [2]time.Duration {
	var out [2]time.Duration
	out[0], _ = processCPU(pid)
	out[1] = selfCPU()
	return out
}

func fsyncFile(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeRandomLayer writes size random bytes to p, syncs them, and returns
// them as an uncompressed layer.
func writeRandomLayer(p string, size int64, seed uint64) (*fileLayer, error) {
	f, err := os.Create(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	h := sha256.New()
	key[2], key[3] = byte(seed>>16), byte(seed>>24)
	src := io.LimitReader(rand.NewChaCha8(key), size)
	if _, err := io.CopyBuffer(io.MultiWriter(f, h), src, make([]byte, 1<<20)); err != nil {
		return nil, err
	}
	// On disk before any timed copy: 200 MiB of dirty pages would otherwise
	// be written back while the push and the baselines are timed, and the
	// registry's fsync would queue behind them.
	if err := f.Sync(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	sum, err := v1.NewHash("sha256:" + hex.EncodeToString(h.Sum(nil)))
	if err != nil {
		return nil, err
	}
	return &fileLayer{path: p, size: size, hash: sum}, nil
}

// fileLayer is an uncompressed layer read from a file, moved as it is.
type fileLayer struct {
	path string
	size int64
	hash v1.Hash
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.hash, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.hash, nil }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return types.OCIUncompressedLayer, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return os.Open(l.path) }

// nullGUID is the username that marks the password as an ACR refresh token.
const nullGUID = "00000000-0000-0000-0000-000000000000"

// createRegistry creates a Basic registry in the bench's group and returns
// its login server.
func (d *driver) createRegistry(ctx context.Context, reg string) (string, error) {
	regs, err := armcontainerregistry.NewRegistriesClient(d.ep.SubscriptionID, d.cred, &arm.ClientOptions{ClientOptions: d.opts})
	if err != nil {
		return "", err
	}
	poller, err := regs.BeginCreate(ctx, group, reg, armcontainerregistry.Registry{Location: to.Ptr(d.ep.Location),
		SKU: &armcontainerregistry.SKU{Name: to.Ptr(armcontainerregistry.SKUNameBasic)}}, nil)
	if err != nil {
		return "", fmt.Errorf("create registry: %w", err)
	}
	r, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: time.Second})
	if err != nil {
		return "", fmt.Errorf("create registry: %w", err)
	}
	if r.Properties == nil || r.Properties.LoginServer == nil {
		return "", fmt.Errorf("the registry has no login server")
	}
	return *r.Properties.LoginServer, nil
}

// acrExchange turns an Entra token of the bench's principal into an ACR
// refresh token at the registry's /oauth2/exchange, as `az acr login` does.
func (d *driver) acrExchange(ctx context.Context, login string) (string, error) {
	tok, err := d.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://containerregistry.azure.net/.default"}})
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {"access_token"}, "service": {login}, "tenant": {d.ep.TenantID}, "access_token": {tok.Token}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+login+"/oauth2/exchange", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{Transport: newTransport(d.roots, 1)}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil || out.RefreshToken == "" {
		return "", fmt.Errorf("exchange: status %d: %.200s", resp.StatusCode, body)
	}
	return out.RefreshToken, nil
}

func joinf(v []float64, format string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, "; ")
}
