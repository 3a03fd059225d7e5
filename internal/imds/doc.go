// Package imds serves the Azure Instance Metadata Service (IMDS) of a Cobalt
// compute node, faithful to Azure's wire behaviour: the managed identity token
// endpoint /metadata/identity/oauth2/token, /metadata/instance,
// /metadata/versions and /metadata/identity/info, with Azure's transport rules
// (Metadata: true, no X-Forwarded-For, GET only, no duplicate query
// parameters, api-version checks) and its per-node rate limit.
//
// [AppService] serves the App Service managed identity protocol
// (IDENTITY_ENDPOINT / IDENTITY_HEADER, api-version 2019-08-01) that process
// mode nodes give their tasks.
//
// Tokens come from a [TokenSource]: on a node, the agent's cache over the
// control plane's node API. The package does no I/O of its own besides HTTP.
package imds
