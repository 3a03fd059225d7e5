// Package arm is Cobalt's Azure Resource Manager front door: it authenticates
// bearer tokens, checks api-versions, authorizes every call through RBAC,
// writes ARM's error envelope, pages lists, runs long-running operations and
// dispatches to resource providers. Built in are Microsoft.Resources
// (subscriptions, resource groups), Microsoft.ManagedIdentity
// (userAssignedIdentities, their federatedIdentityCredentials and the
// provider's operations list), Microsoft.Authorization (roleAssignments,
// roleDefinitions) and Microsoft.Storage (storageAccounts); other providers
// (Microsoft.Batch) plug in through the Provider API in provider.go.
package arm
