package arm

import "net/http"

// typeIdentityOperations is the pseudo resource type of the
// Microsoft.ManagedIdentity operations list, for its api-versions.
const typeIdentityOperations = "Microsoft.ManagedIdentity/operations"

// OperationDisplay is the display part of a provider operation.
type OperationDisplay struct {
	Provider    string `json:"provider"`
	Operation   string `json:"operation"`
	Resource    string `json:"resource"`
	Description string `json:"description"`
}

// Operation is one operation of a resource provider, as its
// Operations_List returns it.
type Operation struct {
	Name    string           `json:"name"`
	Display OperationDisplay `json:"display"`
}

// msiOperation returns an operation of Microsoft.ManagedIdentity.
func msiOperation(action, resource, operation, description string) Operation {
	return Operation{Name: "Microsoft.ManagedIdentity/" + action, Display: OperationDisplay{
		Provider: "Managed Service Identity", Resource: resource, Operation: operation, Description: description}}
}

// msiOperations are the operations Cobalt's Microsoft.ManagedIdentity
// provider performs, named and described as Azure's list names them.
var msiOperations = []Operation{
	msiOperation("userAssignedIdentities/read", "User Assigned Identities", "Get User Assigned Identity",
		"Gets an existing user assigned identity"),
	msiOperation("userAssignedIdentities/write", "User Assigned Identities", "Create/Update User Assigned Identity",
		"Creates a new user assigned identity or updates the tags associated with an existing user assigned identity"),
	msiOperation("userAssignedIdentities/delete", "User Assigned Identities", "Delete User Assigned Identity",
		"Deletes an existing user assigned identity"),
	msiOperation("userAssignedIdentities/assign/action", "User Assigned Identities", "Assign User Assigned Identity",
		"RBAC action for assigning an existing user assigned identity to a resource"),
	msiOperation("userAssignedIdentities/federatedIdentityCredentials/read", "User Assigned Identities", "Get Federated Identity Credential",
		"Get or list Federated Identity Credentials"),
	msiOperation("userAssignedIdentities/federatedIdentityCredentials/write", "User Assigned Identities", "Add or update Federated Identity Credential",
		"Add or update a Federated Identity Credential"),
	msiOperation("userAssignedIdentities/federatedIdentityCredentials/delete", "User Assigned Identities", "Delete Federated Identity Credential",
		"Delete a Federated Identity Credential"),
	msiOperation("operations/read", "Operations", "Lists operations available on Microsoft.ManagedIdentity resource provider",
		"Lists operations available on Microsoft.ManagedIdentity resource provider"),
	msiOperation("register/action", "Managed Service Identity", "Register Managed Service Identity Resource Provider",
		"Registers the subscription for the managed identity resource provider"),
}

// msiOperationsProvider serves GET /providers/Microsoft.ManagedIdentity/operations,
// which every authenticated caller may read, as on Azure.
type msiOperationsProvider struct{}

func (msiOperationsProvider) Register(g *Registrar) error {
	g.APIVersions(typeIdentityOperations, identityVersions...)
	g.Handle(Route{Pattern: "GET /providers/Microsoft.ManagedIdentity/operations", Type: typeIdentityOperations,
		Handler: func(w http.ResponseWriter, r *Request) error {
			r.WriteList(w, msiOperations, "")
			return nil
		}})
	return nil
}
