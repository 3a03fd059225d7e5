package registry

import (
	"context"

	"github.com/cobaltbatch/cobalt"
)

// Registries is how the registry service reads the registries the
// management plane owns (the Microsoft.ContainerRegistry provider implements
// it). LookupRegistry folds the name's case and returns a *cobalt.Error with
// cobalt.ENotFound when there is no such registry.
type Registries interface {
	LookupRegistry(ctx context.Context, name string) (cobalt.Registry, error)
}

// The management plane drives a registry's listener and content through these
// methods of *Service (declared here so the provider can depend on an
// interface):
//
//	AllocateRegistryEndpoint(ctx, name) (hostPort string, err error)
//	    opens (or returns) the registry's HTTPS listener; a registry created
//	    before with a stored login server gets that port again when it is free.
//	ReleaseRegistryEndpoint(ctx, name) error
//	    closes the listener; unknown names are not an error.
//	DeleteRegistryContent(ctx, name) error
//	    removes every repository, manifest and blob of the registry; called
//	    when the registry or its resource group is deleted.
type Endpoints interface {
	AllocateRegistryEndpoint(ctx context.Context, name string) (hostPort string, err error)
	ReleaseRegistryEndpoint(ctx context.Context, name string) error
	DeleteRegistryContent(ctx context.Context, name string) error
}
