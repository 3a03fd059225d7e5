// Package registry serves container registries as Azure Container Registry
// does: the OCI Distribution Specification v1.1 on each registry's own HTTPS
// listener, content-addressed storage on disk, and ACR's token flow
// (/oauth2/exchange turns a Microsoft Entra access token into an ACR refresh
// token; /oauth2/token issues access tokens whose grants come from the
// caller's role assignments at the registry's scope).
package registry
