package rbac

import (
	"sort"
	"strings"
)

// Built-in role definition GUIDs, as Azure publishes them.
const (
	RoleOwner                      = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	RoleContributor                = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	RoleReader                     = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	RoleUserAccessAdministrator    = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
	RoleManagedIdentityOperator    = "f1a07417-d97a-45cb-824c-7a7467783830"
	RoleManagedIdentityContributor = "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59"
	RoleStorageBlobDataReader      = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
	RoleStorageBlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
	RoleStorageBlobDataOwner       = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
	RoleAcrPull                    = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
	RoleAcrPush                    = "8311e382-0749-4cb8-b61a-304f252e45ec"
	RoleAcrDelete                  = "c2f4ef07-c644-48eb-af81-4b1b4947fb11"
	RoleAcrImageSigner             = "6cef56e8-d556-48e5-a04f-b8e64114680f"
	RoleBatchAccountContributor    = "29fe4964-1e60-436b-bd3a-77fd4c178b3c"
	RoleBatchAccountReader         = "11076f67-66f6-4be0-8f6b-f0609fd05cc9"
	RoleBatchDataContributor       = "6aaa78f1-f7de-44ca-8722-c64a23943cae"
	RoleBatchJobSubmitter          = "48e5e92e-a480-4e71-aa9c-2778f4c13781"
)

// Permission is one permission block of a role definition.
type Permission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

// RoleDefinition is a role definition as Azure describes it.
type RoleDefinition struct {
	// ID is the role definition's GUID (its resource name).
	ID          string
	RoleName    string
	Description string
	// RoleType is "BuiltInRole" for every role here.
	RoleType         string
	Permissions      []Permission
	AssignableScopes []string
}

func role(id, name, desc string, p Permission) RoleDefinition {
	for _, s := range []*[]string{&p.Actions, &p.NotActions, &p.DataActions, &p.NotDataActions} {
		if *s == nil {
			*s = []string{}
		}
	}
	return RoleDefinition{ID: id, RoleName: name, Description: desc, RoleType: "BuiltInRole",
		Permissions: []Permission{p}, AssignableScopes: []string{"/"}}
}

const (
	blobSvc = "Microsoft.Storage/storageAccounts/blobServices"
)

// builtIns holds the built-in roles, from the Azure built-in roles reference
// (MicrosoftDocs azure-docs, articles/role-based-access-control/built-in-roles
// and articles/batch/batch-role-based-access-control.md).
var builtIns = []RoleDefinition{
	role(RoleOwner, "Owner", "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
		Permission{Actions: []string{"*"}}),
	role(RoleContributor, "Contributor", "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
		Permission{Actions: []string{"*"}, NotActions: []string{
			"Microsoft.Authorization/*/Delete",
			"Microsoft.Authorization/*/Write",
			"Microsoft.Authorization/elevateAccess/Action",
			"Microsoft.Blueprint/blueprintAssignments/write",
			"Microsoft.Blueprint/blueprintAssignments/delete",
			"Microsoft.Compute/galleries/share/action",
		}}),
	role(RoleReader, "Reader", "View all resources, but does not allow you to make any changes.",
		Permission{Actions: []string{"*/read"}}),
	role(RoleUserAccessAdministrator, "User Access Administrator", "Lets you manage user access to Azure resources.",
		Permission{Actions: []string{"*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"}}),
	role(RoleManagedIdentityOperator, "Managed Identity Operator", "Read and Assign User Assigned Identity",
		Permission{Actions: []string{
			"Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
			"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
			"Microsoft.Authorization/*/read",
			"Microsoft.Insights/alertRules/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read",
			"Microsoft.Resources/deployments/*",
			"Microsoft.Support/*",
		}}),
	role(RoleManagedIdentityContributor, "Managed Identity Contributor", "Create, Read, Update, and Delete User Assigned Identity",
		Permission{Actions: []string{
			"Microsoft.ManagedIdentity/userAssignedIdentities/read",
			"Microsoft.ManagedIdentity/userAssignedIdentities/write",
			"Microsoft.ManagedIdentity/userAssignedIdentities/delete",
			"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/read",
			"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write",
			"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/delete",
			"Microsoft.ManagedIdentity/userAssignedIdentities/revokeTokens/action",
			"Microsoft.Authorization/*/read",
			"Microsoft.Insights/alertRules/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read",
			"Microsoft.Resources/deployments/*",
			"Microsoft.Support/*",
		}}),
	role(RoleStorageBlobDataReader, "Storage Blob Data Reader", "Allows for read access to Azure Storage blob containers and data",
		Permission{
			Actions:     []string{blobSvc + "/containers/read", blobSvc + "/generateUserDelegationKey/action"},
			DataActions: []string{blobSvc + "/containers/blobs/read"},
		}),
	role(RoleStorageBlobDataContributor, "Storage Blob Data Contributor", "Allows for read, write and delete access to Azure Storage blob containers and data",
		Permission{
			Actions: []string{blobSvc + "/containers/delete", blobSvc + "/containers/read", blobSvc + "/containers/write",
				blobSvc + "/generateUserDelegationKey/action"},
			DataActions: []string{blobSvc + "/containers/blobs/delete", blobSvc + "/containers/blobs/read",
				blobSvc + "/containers/blobs/write", blobSvc + "/containers/blobs/move/action", blobSvc + "/containers/blobs/add/action"},
		}),
	role(RoleStorageBlobDataOwner, "Storage Blob Data Owner", "Allows for full access to Azure Storage blob containers and data, including assigning POSIX access control.",
		Permission{
			Actions:     []string{blobSvc + "/containers/*", blobSvc + "/generateUserDelegationKey/action"},
			DataActions: []string{blobSvc + "/containers/blobs/*"},
		}),
	role(RoleAcrPull, "AcrPull", "acr pull",
		Permission{Actions: []string{"Microsoft.ContainerRegistry/registries/pull/read"}}),
	role(RoleAcrPush, "AcrPush", "acr push",
		Permission{Actions: []string{"Microsoft.ContainerRegistry/registries/pull/read", "Microsoft.ContainerRegistry/registries/push/write"}}),
	role(RoleAcrDelete, "AcrDelete", "acr delete",
		Permission{Actions: []string{"Microsoft.ContainerRegistry/registries/artifacts/delete"}}),
	// Content trust is deprecated on Azure; Cobalt's registry does not serve
	// it, but the role exists so that assignments naming it succeed.
	role(RoleAcrImageSigner, "AcrImageSigner", "acr image signer",
		Permission{Actions: []string{"Microsoft.ContainerRegistry/registries/sign/write"},
			DataActions: []string{"Microsoft.ContainerRegistry/registries/trustedCollections/write"}}),
	role(RoleBatchAccountContributor, "Azure Batch Account Contributor", "Grants full access to manage all Batch resources, including Batch accounts, pools and jobs.",
		Permission{
			Actions: []string{"Microsoft.Authorization/*/read", "Microsoft.Batch/batchAccounts/*", "Microsoft.Insights/alertRules/*",
				"Microsoft.Resources/deployments/*", "Microsoft.Resources/subscriptions/resourceGroups/read"},
			DataActions: []string{"Microsoft.Batch/batchAccounts/*"},
		}),
	role(RoleBatchAccountReader, "Azure Batch Account Reader", "Lets you view all resources including pools and jobs in the Batch account.",
		Permission{
			Actions:     []string{"Microsoft.Batch/batchAccounts/read", "Microsoft.Batch/batchAccounts/*/read", "Microsoft.Resources/subscriptions/resourceGroups/read"},
			DataActions: []string{"Microsoft.Batch/batchAccounts/*/read"},
		}),
	role(RoleBatchDataContributor, "Azure Batch Data Contributor", "Grants permissions to manage Batch pools and jobs but not to modify accounts.",
		Permission{
			Actions: []string{"Microsoft.Authorization/*/read", "Microsoft.Batch/batchAccounts/read",
				"Microsoft.Batch/batchAccounts/applications/*", "Microsoft.Batch/batchAccounts/certificates/*",
				"Microsoft.Batch/batchAccounts/certificateOperationResults/*", "Microsoft.Batch/batchAccounts/pools/*",
				"Microsoft.Batch/batchAccounts/poolOperationResults/*", "Microsoft.Batch/locations/*/read",
				"Microsoft.Insights/alertRules/*", "Microsoft.Resources/deployments/*", "Microsoft.Resources/subscriptions/resourceGroups/read"},
			DataActions: []string{"Microsoft.Batch/batchAccounts/jobSchedules/*", "Microsoft.Batch/batchAccounts/jobs/*"},
		}),
	role(RoleBatchJobSubmitter, "Azure Batch Job Submitter", "Lets you submit and manage jobs in the Batch account.",
		Permission{
			Actions: []string{"Microsoft.Batch/batchAccounts/applications/read", "Microsoft.Batch/batchAccounts/applications/versions/read",
				"Microsoft.Batch/batchAccounts/pools/read", "Microsoft.Insights/alertRules/*", "Microsoft.Resources/subscriptions/resourceGroups/read"},
			DataActions: []string{"Microsoft.Batch/batchAccounts/jobSchedules/*", "Microsoft.Batch/batchAccounts/jobs/*"},
		}),
}

var byID = func() map[string]RoleDefinition {
	m := make(map[string]RoleDefinition, len(builtIns))
	for _, r := range builtIns {
		m[r.ID] = r
	}
	return m
}()

// BuiltInRoles returns every built-in role definition, ordered by role name.
func BuiltInRoles() []RoleDefinition {
	out := append([]RoleDefinition(nil), builtIns...)
	sort.Slice(out, func(i, j int) bool { return out[i].RoleName < out[j].RoleName })
	return out
}

// RoleByID returns the built-in role with the given GUID (case-insensitive).
func RoleByID(id string) (RoleDefinition, bool) {
	r, ok := byID[strings.ToLower(id)]
	return r, ok
}

// RoleByName returns the built-in role with the given name (case-insensitive).
func RoleByName(name string) (RoleDefinition, bool) {
	for _, r := range builtIns {
		if strings.EqualFold(r.RoleName, name) {
			return r, true
		}
	}
	return RoleDefinition{}, false
}

// Permits reports whether the role grants the management-plane action.
func (r RoleDefinition) Permits(action string) bool {
	for _, p := range r.Permissions {
		if matchAny(p.Actions, action) && !matchAny(p.NotActions, action) {
			return true
		}
	}
	return false
}

// PermitsData reports whether the role grants the data action.
func (r RoleDefinition) PermitsData(dataAction string) bool {
	for _, p := range r.Permissions {
		if matchAny(p.DataActions, dataAction) && !matchAny(p.NotDataActions, dataAction) {
			return true
		}
	}
	return false
}

func matchAny(patterns []string, action string) bool {
	for _, p := range patterns {
		if Match(p, action) {
			return true
		}
	}
	return false
}

// Match reports whether an action pattern of a role definition matches an
// action, as Azure matches them: case-insensitively, where '*' matches any run
// of characters, including '/' ("Microsoft.Authorization/*/read" matches
// "Microsoft.Authorization/roleAssignments/read";
// "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action" matches
// "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action" because the
// '*' with its slash may match nothing).
func Match(pattern, action string) bool {
	p, a := strings.ToLower(pattern), strings.ToLower(action)
	if !strings.Contains(p, "*") {
		return p == a
	}
	return glob(p, a) || (strings.Contains(p, "/*/") && glob(strings.Replace(p, "/*/", "/", 1), a))
}

// glob matches s against p, where '*' matches any run of characters.
func glob(p, s string) bool {
	// Iterative wildcard matching with backtracking to the last star.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
