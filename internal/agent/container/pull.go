package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// ACR's conventions for a node identity's pull.
const (
	// RegistryResource is the Entra resource of registry tokens.
	RegistryResource = "https://containerregistry.azure.net"
	// NullGUID is the user name that says the secret is an ACR refresh token.
	NullGUID = "00000000-0000-0000-0000-000000000000"
)

// Image is an image unpacked on the node.
type Image struct {
	Ref    string    // as named
	Digest string    // of its manifest, "sha256:..."
	RootFS string    // its unpacked filesystem, read-only to tasks
	Config v1.Config // its configuration (Env, Entrypoint, Cmd, WorkingDir, User)
}

// Puller pulls and unpacks images, each once per digest.
type Puller struct {
	// Dir holds one directory per image digest.
	Dir string
	// Transport reaches registries (trusting the installation CA).
	Transport http.RoundTripper
	// Token gets an Entra token for one of the node's identities.
	Token func(ctx context.Context, identityResourceID, resource string) (string, error)
	// Limits bound each unpacked image.
	Limits UntarLimits

	mu     sync.Mutex
	byRef  map[string]*Image
	pulls  map[string]*pull // in flight, by ref
	digest sync.Map         // digest → *sync.Mutex: one unpack per digest
}

type pull struct {
	done chan struct{}
	img  *Image
	err  error
}

// PullError is a pull that failed, with what Batch's error names.
type PullError struct {
	Registry, Image string
	Err             error
}

func (e *PullError) Error() string {
	return fmt.Sprintf("The container image %s could not be pulled from the registry %s: %v", e.Image, e.Registry, e.Err)
}

func (e *PullError) Unwrap() error { return e.Err }

// Cached returns the image already pulled under ref, nil if none.
func (p *Puller) Cached(ref string) *Image {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byRef[ref]
}

// Pull returns the image ref names, pulling and unpacking it unless this
// Puller already has it: reg, when set, is the registry to authenticate to
// (it must be the image's registry); otherwise the first of pool whose
// server is the image's registry, or anonymous.
func (p *Puller) Pull(ctx context.Context, ref string, reg *nodeproto.ContainerRegistry, pool []nodeproto.ContainerRegistry) (*Image, error) {
	p.mu.Lock()
	if img := p.byRef[ref]; img != nil {
		p.mu.Unlock()
		return img, nil
	}
	if p.pulls == nil {
		p.pulls, p.byRef = map[string]*pull{}, map[string]*Image{}
	}
	if pl := p.pulls[ref]; pl != nil {
		p.mu.Unlock()
		select {
		case <-pl.done:
			return pl.img, pl.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	pl := &pull{done: make(chan struct{})}
	p.pulls[ref] = pl
	p.mu.Unlock()
	pl.img, pl.err = p.pull(ctx, ref, reg, pool)
	p.mu.Lock()
	delete(p.pulls, ref)
	if pl.err == nil {
		p.byRef[ref] = pl.img
	}
	p.mu.Unlock()
	close(pl.done)
	return pl.img, pl.err
}

func (p *Puller) pull(ctx context.Context, ref string, reg *nodeproto.ContainerRegistry, pool []nodeproto.ContainerRegistry) (*Image, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, &PullError{Image: ref, Registry: "(none)", Err: fmt.Errorf("the image name is not valid: %w", err)}
	}
	host := r.Context().RegistryStr()
	fail := func(err error) (*Image, error) { return nil, &PullError{Image: ref, Registry: host, Err: err} }
	if reg == nil {
		for i := range pool {
			if sameRegistry(pool[i].Server, host) {
				reg = &pool[i]
				break
			}
		}
	} else if !sameRegistry(reg.Server, host) {
		return fail(fmt.Errorf("the image is not in the task's registry %s", reg.Server))
	}
	auth, err := p.authenticator(ctx, host, reg)
	if err != nil {
		return fail(err)
	}
	img, err := remote.Image(r, remote.WithAuth(auth), remote.WithTransport(httpsOnly{p.Transport}), remote.WithContext(ctx))
	if err != nil {
		return fail(err)
	}
	d, err := img.Digest()
	if err != nil {
		return fail(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fail(err)
	}
	out := &Image{Ref: ref, Digest: d.String(), Config: cf.Config, RootFS: filepath.Join(p.Dir, d.Hex, "rootfs")}
	if err := p.unpack(img, d); err != nil {
		return fail(err)
	}
	return out, nil
}

// unpack unpacks img into Dir/<hex>/rootfs unless it is there: into a
// temporary directory renamed into place, so a partial unpack is never
// used.
func (p *Puller) unpack(img v1.Image, d v1.Hash) error {
	mu, _ := p.digest.LoadOrStore(d.Hex, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	final := filepath.Join(p.Dir, d.Hex)
	if _, err := os.Stat(filepath.Join(final, "rootfs")); err == nil {
		return nil
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(p.Dir, ".tmp-"+d.Hex+"-"+hex.EncodeToString(rnd[:]))
	if err := os.MkdirAll(filepath.Join(tmp, "rootfs"), 0o755); err != nil {
		return err
	}
	err := p.extract(img, tmp)
	if err == nil {
		_ = os.RemoveAll(final)
		err = os.Rename(tmp, final)
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
	}
	return err
}

// extract unpacks img's flattened filesystem into tmp/rootfs. The layers
// are fetched into tmp/layers, a few at a time, while the unpack reads them
// (see prefetch): each is read to its end, where ggcr checks its digest,
// before any of its bytes is unpacked. The files are gone when it returns.
func (p *Puller) extract(img v1.Image, tmp string) error {
	if err := p.checkLayerSizes(img); err != nil {
		return err
	}
	dir := filepath.Join(tmp, "layers")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pf, err := prefetch(img, dir)
	if err != nil {
		return err
	}
	defer pf.close()
	rc := mutate.Extract(pf)
	defer rc.Close()
	if err := Untar(rc, filepath.Join(tmp, "rootfs"), p.Limits); err != nil {
		return err
	}
	// A layer that fails (its fetch, its digest, its gzip) ends Extract's
	// stream with a well-formed end of archive before the error: the error
	// is only seen by reading on.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("read the image: %w", err)
	}
	return nil
}

// errLayersTooLarge is the error of an image whose layers exceed the unpack
// limit.
var errLayersTooLarge = errors.New("the image's layers are larger than what it may unpack to")

// checkLayerSizes refuses an image whose layers, as its manifest gives
// their sizes (ggcr reads no more of a layer than that), are together
// larger than what the image may unpack to: they are written to disk
// before they are unpacked.
func (p *Puller) checkLayerSizes(img v1.Image) error {
	if p.Limits.MaxBytes <= 0 {
		return nil
	}
	ls, err := img.Layers()
	if err != nil {
		return err
	}
	var total int64
	for _, l := range ls {
		n, err := l.Size()
		if err != nil {
			return err
		}
		if total += n; n < 0 || total > p.Limits.MaxBytes {
			return fmt.Errorf("%w (%d bytes)", errLayersTooLarge, p.Limits.MaxBytes)
		}
	}
	return nil
}

// sameRegistry reports whether a registryServer (with or without a scheme)
// names host.
func sameRegistry(server, host string) bool {
	server = strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	return strings.EqualFold(strings.TrimSuffix(server, "/"), host)
}

// authenticator is the credential for host: Basic for a user name and
// password, ACR's refresh token for an identity, anonymous for none.
func (p *Puller) authenticator(ctx context.Context, host string, reg *nodeproto.ContainerRegistry) (authn.Authenticator, error) {
	switch {
	case reg == nil:
		return authn.Anonymous, nil
	case reg.IdentityResourceID != "":
		if p.Token == nil {
			return nil, errors.New("the node has no identity token source")
		}
		aad, err := p.Token(ctx, reg.IdentityResourceID, RegistryResource)
		if err != nil {
			return nil, fmt.Errorf("no token for the identity %s: %w", reg.IdentityResourceID, err)
		}
		refresh, err := p.exchange(ctx, host, aad)
		if err != nil {
			return nil, err
		}
		return authn.FromConfig(authn.AuthConfig{Username: NullGUID, IdentityToken: refresh}), nil
	case reg.Username != "":
		return authn.FromConfig(authn.AuthConfig{Username: reg.Username, Password: reg.Password}), nil
	}
	return authn.Anonymous, nil
}

// exchange trades an Entra access token for an ACR refresh token at
// https://host/oauth2/exchange.
func (p *Puller) exchange(ctx context.Context, host, aad string) (string, error) {
	form := url.Values{"grant_type": {"access_token"}, "service": {host}, "access_token": {aad}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+host+"/oauth2/exchange", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := &http.Client{Transport: httpsOnly{p.Transport}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("token exchange: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var out struct {
		RefreshToken string `json:"refresh_token"`
		Errors       []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(body, &out)
	if resp.StatusCode != http.StatusOK || out.RefreshToken == "" {
		msg := resp.Status
		if len(out.Errors) > 0 {
			msg += ": " + clip(out.Errors[0].Code+": "+out.Errors[0].Message)
		}
		return "", fmt.Errorf("token exchange refused: %s", msg)
	}
	return out.RefreshToken, nil
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// httpsOnly refuses plain HTTP: go-containerregistry falls back to http for
// loopback registries, which would send credentials unencrypted.
type httpsOnly struct{ rt http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		return nil, fmt.Errorf("%s: registries are reached over HTTPS only", r.URL.Redacted())
	}
	rt := h.rt
	if rt == nil {
		rt = http.DefaultTransport
	}
	return rt.RoundTrip(r)
}
