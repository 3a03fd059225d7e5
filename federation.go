package cobalt

// FederatedCredentialType is the ARM type of a user-assigned identity's
// federated identity credential.
const FederatedCredentialType = "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"

// DefaultFederatedAudience is the audience Entra recommends (and Cobalt
// records when a request names none) for tokens exchanged through a
// federated identity credential.
const DefaultFederatedAudience = "api://AzureADTokenExchange"

// MaxFederatedCredentials is how many federated identity credentials one
// user-assigned identity may have, as on Azure.
const MaxFederatedCredentials = 20

// FederatedCredential is a federated identity credential: a trust, recorded
// on a user-assigned managed identity, that an external OpenID Connect
// issuer's tokens with this issuer, subject and one of these audiences may
// be exchanged at the login service for the identity's tokens. It is stored
// as the body of the credential's ARM resource, a child of the identity.
type FederatedCredential struct {
	// Issuer is the issuer URL, matched exactly against an assertion's iss.
	Issuer string `json:"issuer"`
	// Subject is matched exactly against an assertion's sub.
	Subject string `json:"subject"`
	// Audiences lists the values one of which an assertion's aud must hold.
	Audiences []string `json:"audiences"`
}
