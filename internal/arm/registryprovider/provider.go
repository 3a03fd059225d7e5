package registryprovider

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/arm"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/registry"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Resource types.
const (
	TypeRegistry   = "Microsoft.ContainerRegistry/registries"
	typeOperations = "Microsoft.ContainerRegistry/operations"
	typeCheckName  = "Microsoft.ContainerRegistry/checkNameAvailability"
)

// APIVersions are the stable Microsoft.ContainerRegistry api-versions the
// specification lists; armcontainerregistry v1.2.0 sends 2023-07-01.
var APIVersions = []string{"2017-03-01", "2017-10-01", "2019-05-01", "2021-09-01", "2022-12-01", "2023-07-01",
	"2025-04-01", "2025-11-01", "2026-11-01"}

var nameRe = regexp.MustCompile(`^[a-zA-Z0-9]{5,50}$`)

// Config configures the provider.
type Config struct {
	// Endpoints opens and closes each registry's listener and removes its
	// content (the registry service). Required.
	Endpoints registry.Endpoints
	// Lookup is the registry service's registry.Registries, built first so
	// that the registry service and this provider can each be given the
	// other's side; the provider clears its cache on every write. When nil,
	// Register makes one on the front door's store.
	Lookup *Lookup
	Logger *slog.Logger
	Now    func() time.Time
	// Poll, when positive, is how often Run opens the listeners of
	// registries that other replicas created and closes those of registries
	// they deleted. With replicas, a registry's stored login server is
	// never rewritten by a replica that could not take its port.
	Poll time.Duration
}

// reclaimer moves a registry's listener to its stored port once free.
type reclaimer interface {
	ReclaimRegistryEndpoint(ctx context.Context, name, loginServer string) bool
}

// endpointNames is what the registry service tells about its listeners.
type endpointNames interface {
	RegistryEndpointNames() []string
}

// Provider is the Microsoft.ContainerRegistry provider; it implements
// arm.Provider and registry.Registries.
type Provider struct {
	cfg Config
	log *slog.Logger
	srv *arm.Server
	st  store.Store
}

// New returns the provider. Register it with the front door before Run.
func New(cfg Config) (*Provider, error) {
	if cfg.Endpoints == nil {
		return nil, errors.New("registryprovider: Config.Endpoints is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Provider{cfg: cfg, log: cfg.Logger}, nil
}

// Register implements arm.Provider.
func (p *Provider) Register(g *arm.Registrar) error {
	p.srv, p.st = g.Server(), g.Store()
	if p.cfg.Lookup == nil {
		p.cfg.Lookup = NewLookup(p.st, p.cfg.Now)
	}
	g.APIVersions(TypeRegistry, APIVersions...)
	g.APIVersions(typeOperations, APIVersions...)
	g.APIVersions(typeCheckName, APIVersions...)
	const rg = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.ContainerRegistry/registries"
	const one = rg + "/{registryName}"
	h := func(pattern, typ, action string, fn arm.HandlerFunc) {
		g.Handle(arm.Route{Pattern: pattern, Type: typ, Action: action, Handler: fn})
	}
	h("PUT "+one, TypeRegistry, TypeRegistry+"/write", p.handlePut)
	h("PATCH "+one, TypeRegistry, TypeRegistry+"/write", p.handlePatch)
	h("GET "+one, TypeRegistry, TypeRegistry+"/read", p.handleGet)
	h("DELETE "+one, TypeRegistry, TypeRegistry+"/delete", p.handleDelete)
	h("GET "+rg, TypeRegistry, TypeRegistry+"/read", p.handleList)
	h("GET /subscriptions/{subscriptionId}/providers/Microsoft.ContainerRegistry/registries", TypeRegistry, TypeRegistry+"/read", p.handleList)
	h("POST "+one+"/listCredentials", TypeRegistry, TypeRegistry+"/listCredentials/action", p.handleListCredentials)
	h("POST "+one+"/regenerateCredential", TypeRegistry, TypeRegistry+"/regenerateCredential/action", p.handleRegenerateCredential)
	h("POST /subscriptions/{subscriptionId}/providers/Microsoft.ContainerRegistry/checkNameAvailability", typeCheckName,
		"Microsoft.ContainerRegistry/checkNameAvailability/read", p.handleCheckName)
	// Listing a provider's operations needs no role, as on Azure.
	h("GET /providers/Microsoft.ContainerRegistry/operations", typeOperations, "", p.handleOperations)
	g.OnDelete(p.cascade)
	return nil
}

// Run re-opens the listener of every registry in the store (on its previous
// port when that port is free, else on another, which becomes its
// loginServer), then waits for ctx to end.
func (p *Provider) Run(ctx context.Context) error {
	if p.st == nil {
		return errors.New("registryprovider: Run before Register")
	}
	if err := p.reopen(ctx); err != nil {
		return err
	}
	if p.cfg.Poll <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(p.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := p.sync(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("syncing registry listeners failed", logkey.Err, err)
			}
		}
	}
}

// sync closes the listeners of registries another replica deleted, then
// opens those of registries it created.
func (p *Provider) sync(ctx context.Context) error {
	if names, ok := p.cfg.Endpoints.(endpointNames); ok {
		for _, name := range names.RegistryEndpointNames() {
			if _, err := p.find(ctx, name); cobalt.IsCode(err, cobalt.ENotFound) {
				// The deleting replica removes the content; this one
				// only stops serving.
				if err := p.cfg.Endpoints.ReleaseRegistryEndpoint(ctx, name); err != nil {
					return err
				}
				p.clearCache()
			}
		}
	}
	return p.reopen(ctx)
}

func (p *Provider) reopen(ctx context.Context) error {
	var page store.Page
	page.Limit = 200
	for {
		rs, next, err := p.st.ResourceList(ctx, store.ResourceListParams{Type: TypeRegistry, Page: page})
		if err != nil {
			return err
		}
		for _, res := range rs {
			// One registry that cannot open does not keep the others, or
			// the installation, from starting: it is logged and retried at
			// the next start (or the next PUT of the registry).
			if err := p.reopenOne(ctx, res); err != nil && ctx.Err() == nil {
				p.log.Warn("registry listener not reopened", logkey.Registry, res.ID, logkey.Err, err)
			}
		}
		if next == "" {
			return nil
		}
		page.Token = next
	}
}

func (p *Provider) reopenOne(ctx context.Context, res store.Resource) error {
	reg, err := decode(res)
	if err != nil {
		return err
	}
	if p.cfg.Poll > 0 && (reg.Properties.LoginServer == "" || reg.Properties.ProvisioningState != "Succeeded") {
		// Being created (on another replica, which gives it its port) or
		// deleted: nothing to serve yet, or any more.
		return nil
	}
	ep, err := p.cfg.Endpoints.AllocateRegistryEndpoint(ctx, reg.Name)
	if err != nil {
		return err
	}
	if r, ok := p.cfg.Endpoints.(reclaimer); ok && p.cfg.Poll > 0 {
		r.ReclaimRegistryEndpoint(ctx, reg.Name, reg.Properties.LoginServer)
	}
	if ep == reg.Properties.LoginServer && reg.Properties.ProvisioningState == "Succeeded" {
		return nil
	}
	if p.cfg.Poll > 0 {
		// With replicas, the stored login server stays the one clients
		// were given: the replica that created the registry set it.
		return nil
	}
	p.log.Info("registry login server changed at start", logkey.Endpoint, ep)
	_, err = p.st.ResourceUpdate(ctx, res.Key, func(r *store.Resource) error {
		cur, err := decode(*r)
		if err != nil {
			return err
		}
		cur.Properties.LoginServer, cur.Properties.ProvisioningState = ep, "Succeeded"
		r.Body, err = encode(cur)
		return err
	})
	p.clearCache()
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil
	}
	return err
}

// cascade closes the listener of, and removes the content of, every registry
// at or below scope (a registry, a resource group, a subscription). The
// front door removes the stored resources afterwards.
func (p *Provider) cascade(ctx context.Context, scope cobalt.ResourceID) error {
	if strings.EqualFold(scope.Type(), TypeRegistry) {
		return p.release(ctx, scope.Name())
	}
	if scope.IsRoot() || len(scope.Types) > 0 {
		// Registries have no child resources here, and the root is never deleted.
		return nil
	}
	for {
		rs, next, err := p.st.ResourceList(ctx, store.ResourceListParams{Type: TypeRegistry, WithinKey: scope.Key(), Page: store.Page{Limit: 200}})
		if err != nil {
			return err
		}
		for _, res := range rs {
			id, err := cobalt.ParseResourceID(res.ID)
			if err != nil {
				return err
			}
			if err := p.release(ctx, id.Name()); err != nil {
				return err
			}
			// Removed at once, so that the next page starts after it.
			if err := p.st.ResourceDelete(ctx, res.Key); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
				return err
			}
		}
		p.clearCache()
		if next == "" || len(rs) == 0 {
			return nil
		}
	}
}

// release closes a registry's listener, then removes its content: nothing
// can be pushed between the two.
func (p *Provider) release(ctx context.Context, name string) error {
	if err := p.cfg.Endpoints.ReleaseRegistryEndpoint(ctx, name); err != nil {
		return err
	}
	if err := p.cfg.Endpoints.DeleteRegistryContent(ctx, name); err != nil {
		return err
	}
	p.clearCache()
	p.log.Info("registry content removed", logkey.Registry, name)
	return nil
}

// find returns the stored registry with the given name in any resource
// group (names fold case), or ENotFound.
func (p *Provider) find(ctx context.Context, name string) (store.Resource, error) {
	return findRegistry(ctx, p.st, name)
}

// Lookup returns the lookup the registry service reads registries through.
func (p *Provider) Lookup() *Lookup { return p.cfg.Lookup }

func (p *Provider) clearCache() { p.cfg.Lookup.clear() }
