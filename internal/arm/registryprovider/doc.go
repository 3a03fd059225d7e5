// Package registryprovider is the Microsoft.ContainerRegistry resource
// provider on the ARM front door's plug-in API: registries (PUT answering 201
// on create and 200 on update, PATCH, GET, list by resource group and by
// subscription, DELETE as a long-running operation with a Location header),
// checkNameAvailability, listCredentials and regenerateCredential for the
// admin user, and the provider's operations list.
//
// Registry names are 5 to 50 alphanumerics, unique across the installation
// without regard to case (the store's unique name), as a registry's DNS name
// is unique across Azure. Each registry's data plane listens on its own
// host:port, which the registry service hands out
// (registry.Endpoints.AllocateRegistryEndpoint); it is the registry's
// properties.loginServer. Run re-opens every registry's listener when the
// installation starts, on its previous port when that port is free.
//
// The admin user's passwords are generated the first time the admin user is
// enabled and stored in the registry's resource body, which the store seals
// at rest (store.SealedResourceTypes). listCredentials and
// regenerateCredential answer ACR's 400 UnAuthorizedForCredentialOperations
// while the admin user is disabled.
//
// Deleting a registry, or a resource group or subscription scope that holds
// registries, closes each registry's listener and then removes its content
// (registry.Endpoints.ReleaseRegistryEndpoint, DeleteRegistryContent) before
// the resource is removed.
//
// Lookup is the registry service's registry.Registries: a cached
// lookup by name, cleared by every write this process makes.
package registryprovider
