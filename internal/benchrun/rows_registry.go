package benchrun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
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

// registry pushes and pulls an image with one fresh random 200 MiB layer
// (uncompressed, so that gzip is not measured) with go-containerregistry's
// default transport to a registry of the child, over TLS with ACR's token
// flow (an Entra token exchanged for a refresh token, then access tokens),
// three rounds; each round also copies the same file with cp(1), and with
// cp and an fsync of the copy, as the baselines.
func (b *bench) registry(ctx context.Context) []Result {
	push := Result{Row: "registry", Work: "push of a 200 MiB image (ggcr, TLS, token flow; 3 rounds)", Target: "≥ 0.3 of cp"}
	pull := Result{Row: "registry", Work: "pull of the same image to a file (ggcr; 3 rounds)", Target: "≥ 0.3 of cp"}
	fail := func(err error) []Result { push.Err, pull.Err = err, err; return []Result{push, pull} }
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
	var cp, cpSync, up, down []float64
	mbps := func(d time.Duration) float64 { return registryLayerBytes / 1e6 / d.Seconds() }
	for round := 1; round <= registryRounds; round++ {
		t, err := registryRound(ctx, dir, round, login, opts, b)
		if err != nil {
			return fail(fmt.Errorf("round %d: %w", round, err))
		}
		cp, cpSync = append(cp, mbps(t.cp)), append(cpSync, mbps(t.cpSync))
		up, down = append(up, mbps(t.push)), append(down, mbps(t.pull))
		b.logf("registry round %d: cp %.0f, cp+fsync %.0f, push %.0f, pull %.0f MB/s; CPU (cobalt up, client) push %s, %s; pull %s, %s",
			round, cp[round-1], cpSync[round-1], up[round-1], down[round-1],
			t.pushCPU[0].Round(time.Millisecond), t.pushCPU[1].Round(time.Millisecond), t.pullCPU[0].Round(time.Millisecond), t.pullCPU[1].Round(time.Millisecond))
	}
	fill := func(r *Result, fig []float64) {
		r.Figure = joinf(fig, "%.0f") + " MB/s"
		r.Baseline = "cp " + joinf(cp, "%.0f") + " MB/s; cp+fsync " + joinf(cpSync, "%.0f") + " MB/s"
		ratio, ratioSync := make([]float64, len(fig)), make([]float64, len(fig))
		for i := range fig {
			ratio[i], ratioSync[i] = fig[i]/cp[i], fig[i]/cpSync[i]
		}
		r.Ratio = joinf(ratio, "%.2f") + " (of cp+fsync: " + joinf(ratioSync, "%.2f") + ")"
		r.OK = slices.Min(ratio) >= registryTarget
	}
	fill(&push, up)
	fill(&pull, down)
	return []Result{push, pull}
}

// registryTimes are one round's durations.
type registryTimes struct {
	cp, cpSync, push, pull time.Duration
	// The CPU time the child and the bench spent pushing and pulling.
	pushCPU, pullCPU [2]time.Duration
}

// registryRound writes a fresh random layer, copies it twice (cp; cp and
// fsync), pushes it as a one-layer image and pulls it back to a file.
func registryRound(ctx context.Context, dir string, round int, login string, opts []remote.Option, b *bench) (registryTimes, error) {
	var t registryTimes
	src := filepath.Join(dir, "layer.bin")
	layer, err := writeRandomLayer(src, uint64(b.run)<<8|uint64(round))
	if err != nil {
		return t, err
	}
	defer os.Remove(src)
	dst := filepath.Join(dir, "copy.bin")
	start := time.Now()
	if out, err := exec.CommandContext(ctx, "cp", src, dst).CombinedOutput(); err != nil {
		return t, fmt.Errorf("cp: %v: %s", err, out)
	}
	t.cp = time.Since(start)
	os.Remove(dst)
	start = time.Now()
	if out, err := exec.CommandContext(ctx, "cp", src, dst).CombinedOutput(); err != nil {
		return t, fmt.Errorf("cp: %v: %s", err, out)
	}
	if err := fsyncFile(dst); err != nil {
		return t, err
	}
	t.cpSync = time.Since(start)
	os.Remove(dst)

	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return t, err
	}
	ref, err := name.ParseReference(fmt.Sprintf("%s/bench/random:r%d", login, round))
	if err != nil {
		return t, err
	}
	var wait func()
	if round == 1 {
		wait = b.profile(ctx, "registry", b.opts.Duration)
		stop := b.selfProfile("registry-client")
		defer stop()
	}
	cpu0 := cpuTimes(b.child.pid())
	start = time.Now()
	if err := remote.Write(ref, img, opts...); err != nil {
		return t, fmt.Errorf("push: %w", err)
	}
	t.push = time.Since(start)
	cpu1 := cpuTimes(b.child.pid())

	start = time.Now()
	n, err := pullLayer(ref, filepath.Join(dir, "pulled.bin"), opts)
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
	os.Remove(filepath.Join(dir, "pulled.bin"))
	if wait != nil {
		wait()
	}
	return t, nil
}

// pullLayer pulls ref's only layer into the file dst; ggcr checks the
// layer's digest at EOF.
func pullLayer(ref name.Reference, dst string, opts []remote.Option) (int64, error) {
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return 0, err
	}
	ls, err := img.Layers()
	if err != nil {
		return 0, err
	}
	if len(ls) != 1 {
		return 0, fmt.Errorf("%d layers, want 1", len(ls))
	}
	rc, err := ls[0].Compressed()
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
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			k, _ := strconv.ParseInt(f[12], 10, 64)
			out[0] = time.Duration(u+k) * time.Second / 100 // USER_HZ
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		out[1] = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
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

// writeRandomLayer writes registryLayerBytes of random bytes to p, syncs
// them, and returns them as an uncompressed layer.
func writeRandomLayer(p string, seed uint64) (*fileLayer, error) {
	f, err := os.Create(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	h := sha256.New()
	src := io.LimitReader(rand.NewChaCha8(key), registryLayerBytes)
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
	return &fileLayer{path: p, size: registryLayerBytes, hash: sum}, nil
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
