package server

import (
	"context"
	"fmt"

	"github.com/cobaltbatch/cobalt/internal/arm/registryprovider"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/registry"
)

// registryPortOffset is where, from PortBase, registries' listeners start.
const registryPortOffset = 2000

// wireRegistry builds the container registry service and the
// Microsoft.ContainerRegistry provider. The lookup comes first: the registry
// service reads registries through it, and the provider, which drives the
// service's listeners, clears its cache on every write.
func (s *Server) wireRegistry(_ context.Context) error {
	lookup := registryprovider.NewLookup(s.store, s.opts.Now)
	portBase := 0
	if s.opts.PortBase > 0 {
		portBase = s.opts.PortBase + registryPortOffset
	}
	svc, err := registry.New(registry.Config{
		Registries: lookup, Validator: s.validator, Authz: s.authz, TLS: s.ca.ServerTLSConfig(),
		PortBase: portBase, Host: s.opts.PublicAddress, DataDir: s.contentDir(), SealKey: s.seal, TenantID: s.tenantID,
		Logger: s.log.With(logkey.Component, "registry"), Now: s.opts.Now,
	})
	if err != nil {
		return fmt.Errorf("registry service: %w", err)
	}
	provider, err := registryprovider.New(registryprovider.Config{
		Endpoints: svc, Lookup: lookup, Logger: s.log.With(logkey.Component, "registryprovider"), Now: s.opts.Now, Poll: s.replicaPoll(),
	})
	if err != nil {
		return fmt.Errorf("Microsoft.ContainerRegistry provider: %w", err)
	}
	if err := s.arm.Register(provider); err != nil {
		return err
	}
	s.registry = svc
	s.goRun("registry", svc.Run)
	// After the service: Run reopens every registry's listener at start.
	s.goRun("registries", provider.Run)
	return nil
}
