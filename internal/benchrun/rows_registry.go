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
	// MB/s of each round: the baselines, the push and the pull, and the
	// bare server's push and pull.
	cp, cpSync, up, down, bareUp, bareDown []float64
}

// registryRun is what every round of the registry row uses.
type registryRun struct {
	b     *bench
	dir   string
	login string
	opts  []remote.Option
	// The bare blob server (see bareBlobs), its client and its directory.
	bare       *bareProcess
	bareClient *http.Client
	bareDir    string
}

// registry pushes and pulls an image with one fresh random 200 MiB layer
// (uncompressed, so that gzip is not measured) with go-containerregistry's
// default transport to a registry of the child, over TLS with ACR's token
// flow (an Entra token exchanged for a refresh token, then access tokens),
// three rounds; each round also copies the same file with cp(1), and with
// cp and an fsync of the copy, as the baselines, and moves the same bytes
// through a bare blob server (see bareBlobs) with the same transport: the
// least any registry does with them (TLS, SHA-256, fsync) on this machine.
// Each round then does the same with the same amount as 4 layers of 50 MiB,
// pushed with ggcr's 4 jobs and pulled 4 at a time, as container runtimes
// pull an image's layers: one layer's SHA-256 is sequential, so a one-layer
// pull is bound by one core of the client, where several layers can use
// every core.
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
	run := &registryRun{b: b, dir: filepath.Join(b.dir, "registry"), login: login,
		opts: []remote.Option{remote.WithContext(ctx), remote.WithTransport(tr),
			remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: nullGUID, IdentityToken: refresh}))}}
	run.bareDir = filepath.Join(run.dir, "bare")
	if err := os.MkdirAll(run.bareDir, 0o700); err != nil {
		return fail(err)
	}
	defer os.RemoveAll(run.dir)
	cert, err := newBenchCert()
	if err != nil {
		return fail(err)
	}
	if run.bare, err = startBare(ctx, bareBody{Mode: bareBlobs, Dir: run.bareDir, Cert: cert.der, Key: cert.key}, ""); err != nil {
		return fail(err)
	}
	defer run.bare.stop()
	// The same transport as ggcr's, trusting the bare server.
	bareTr := remote.DefaultTransport.(*http.Transport).Clone()
	bareTr.TLSClientConfig.RootCAs = cert.roots
	run.bareClient = &http.Client{Transport: bareTr}
	mbps := func(d time.Duration) float64 { return registryLayerBytes / 1e6 / d.Seconds() }
	// The shapes alternate round by round, so that a busy machine's drift
	// lands on both.
	for round := 1; round <= registryRounds; round++ {
		for _, sh := range shapes {
			t, err := run.round(ctx, round, sh.layers)
			if err != nil {
				return fail(fmt.Errorf("%d layers, round %d: %w", sh.layers, round, err))
			}
			sh.cp, sh.cpSync = append(sh.cp, mbps(t.cp)), append(sh.cpSync, mbps(t.cpSync))
			sh.up, sh.down = append(sh.up, mbps(t.push)), append(sh.down, mbps(t.pull))
			sh.bareUp, sh.bareDown = append(sh.bareUp, mbps(t.barePush)), append(sh.bareDown, mbps(t.barePull))
			i := round - 1
			b.logf("registry %d layer(s) round %d: cp %.0f, cp+fsync %.0f, push %.0f, pull %.0f, bare push %.0f, bare pull %.0f MB/s; CPU (server, client) push %s, %s; pull %s, %s; bare push %s, %s; bare pull %s, %s",
				sh.layers, round, sh.cp[i], sh.cpSync[i], sh.up[i], sh.down[i], sh.bareUp[i], sh.bareDown[i],
				ms(t.pushCPU[0]), ms(t.pushCPU[1]), ms(t.pullCPU[0]), ms(t.pullCPU[1]),
				ms(t.barePushCPU[0]), ms(t.barePushCPU[1]), ms(t.barePullCPU[0]), ms(t.barePullCPU[1]))
		}
	}
	for _, sh := range shapes {
		fill := func(r *Result, fig, bare []float64, verb string) {
			r.Figure = joinf(fig, "%.0f") + " MB/s"
			ratio, ratioSync, ratioBare, bareCP := make([]float64, len(fig)), make([]float64, len(fig)), make([]float64, len(fig)), make([]float64, len(fig))
			for i := range fig {
				ratio[i], ratioSync[i], ratioBare[i], bareCP[i] = fig[i]/sh.cp[i], fig[i]/sh.cpSync[i], fig[i]/bare[i], bare[i]/sh.cp[i]
			}
			r.Baseline = "cp " + joinf(sh.cp, "%.0f") + " MB/s; cp+fsync " + joinf(sh.cpSync, "%.0f") +
				" MB/s; bare TLS blob " + verb + " " + joinf(bare, "%.0f") + " MB/s (" + joinf(bareCP, "%.2f") + " of cp)"
			r.Ratio = joinf(ratio, "%.2f") + " (of cp+fsync: " + joinf(ratioSync, "%.2f") + "; of the bare server: " + joinf(ratioBare, "%.2f") + ")"
			r.OK = slices.Min(ratio) >= registryTarget
		}
		fill(&sh.push, sh.up, sh.bareUp, "PUT")
		fill(&sh.pull, sh.down, sh.bareDown, "GET")
	}
	return results()
}

// registryTimes are one round's durations.
type registryTimes struct {
	cp, cpSync, push, pull, barePush, barePull time.Duration
	// The CPU time the server (the child, or the bare server) and the
	// bench spent pushing and pulling.
	pushCPU, pullCPU, barePushCPU, barePullCPU [2]time.Duration
}

// round writes fresh random layers (registryLayerBytes in all), copies them
// twice with one cp(1) (cp; cp and fsync), pushes them as one image (ggcr's
// default of 4 concurrent uploads) and pulls the layers back to files, all
// at once, then puts them to the bare server and gets them back the same way.
func (run *registryRun) round(ctx context.Context, round, layers int) (registryTimes, error) {
	b, dir := run.b, run.dir
	var t registryTimes
	var srcs, dsts []string
	var ls []*fileLayer
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

	vls := make([]v1.Layer, len(ls))
	for i, l := range ls {
		vls[i] = l
	}
	img, err := mutate.AppendLayers(empty.Image, vls...)
	if err != nil {
		return t, err
	}
	ref, err := name.ParseReference(fmt.Sprintf("%s/bench/random:l%dr%d", run.login, layers, round))
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
	// timed runs f and returns how long it took and the CPU time server (a
	// process) and this process spent meanwhile.
	timed := func(server int, f func() error) (time.Duration, [2]time.Duration, error) {
		cpu0 := cpuTimes(server)
		start := time.Now()
		err := f()
		d := time.Since(start)
		cpu1 := cpuTimes(server)
		return d, [2]time.Duration{cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]}, err
	}
	if t.push, t.pushCPU, err = timed(b.child.pid(), func() error {
		return remote.Write(ref, img, append(run.opts, remote.WithJobs(4))...)
	}); err != nil {
		return t, fmt.Errorf("push: %w", err)
	}
	var n int64
	if t.pull, t.pullCPU, err = timed(b.child.pid(), func() (err error) {
		n, err = pullLayers(ref, filepath.Join(dir, "pulled"), layers, run.opts)
		return err
	}); err != nil {
		return t, fmt.Errorf("pull: %w", err)
	}
	if n != registryLayerBytes {
		return t, fmt.Errorf("pull: %d bytes, want %d", n, registryLayerBytes)
	}
	os.RemoveAll(filepath.Join(dir, "pulled"))
	if wait != nil {
		wait()
	}

	if t.barePush, t.barePushCPU, err = timed(run.bare.pid, func() error { return run.barePut(ctx, ls) }); err != nil {
		return t, fmt.Errorf("bare push: %w", err)
	}
	if t.barePull, t.barePullCPU, err = timed(run.bare.pid, func() error { return run.bareGet(ctx, ls, filepath.Join(dir, "pulled")) }); err != nil {
		return t, fmt.Errorf("bare pull: %w", err)
	}
	os.RemoveAll(filepath.Join(dir, "pulled"))
	for i := range ls {
		os.Remove(filepath.Join(run.bareDir, fmt.Sprintf("l%d", i)))
	}
	return t, nil
}

// barePut puts every layer to the bare server at once, as blob li.
func (run *registryRun) barePut(ctx context.Context, ls []*fileLayer) error {
	return concurrently(ls, func(i int, l *fileLayer) error {
		f, err := os.Open(l.path)
		if err != nil {
			return err
		}
		defer f.Close()
		u := fmt.Sprintf("https://%s/blobs/l%d?digest=%s", run.bare.addr, i, l.hash.Hex)
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, f)
		if err != nil {
			return err
		}
		req.ContentLength = l.size
		resp, err := run.bareClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			return fmt.Errorf("PUT: status %d: %s", resp.StatusCode, body)
		}
		return nil
	})
}

// bareGet gets every layer back from the bare server at once, into files
// under dir, and checks each one's size and SHA-256, as ggcr does.
func (run *registryRun) bareGet(ctx context.Context, ls []*fileLayer, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return concurrently(ls, func(i int, l *fileLayer) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://%s/blobs/l%d", run.bare.addr, i), nil)
		if err != nil {
			return err
		}
		resp, err := run.bareClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET: status %d", resp.StatusCode)
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("layer%d.bin", i)))
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, h), resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); n != l.size || got != l.hash.Hex {
			return fmt.Errorf("GET: %d bytes of sha256:%s, want %d of %s", n, got, l.size, l.hash)
		}
		return nil
	})
}

// concurrently runs f for every element of xs at once and returns their
// errors.
func concurrently[T any](xs []T, f func(int, T) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(xs))
	for i, x := range xs {
		wg.Go(func() { errs[i] = f(i, x) })
	}
	wg.Wait()
	return errors.Join(errs...)
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
	ns := make([]int64, len(ls))
	err = concurrently(ls, func(i int, l v1.Layer) (err error) {
		ns[i], err = pullLayer(l, filepath.Join(dir, fmt.Sprintf("layer%d.bin", i)))
		return err
	})
	var total int64
	for _, n := range ns {
		total += n
	}
	return total, err
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
	body, err := tokenRequest(ctx, newTransport(d.roots, 1), "https://"+login+"/oauth2/exchange", form.Encode())
	if err != nil {
		return "", fmt.Errorf("exchange: %w", err)
	}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(body, &out) != nil || out.RefreshToken == "" {
		return "", fmt.Errorf("exchange: no refresh token in %.200s", body)
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
