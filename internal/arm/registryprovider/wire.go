package registryprovider

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/arm"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Registry is the JSON of a registry, as ACR answers GET (api-version
// 2023-07-01 and later).
type Registry struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags,omitempty"`
	Sku        Sku               `json:"sku"`
	Identity   *Identity         `json:"identity,omitempty"`
	Properties Properties        `json:"properties"`
}

// Sku is a registry's SKU: Basic, Standard or Premium (the tier is the name).
type Sku struct {
	Name string `json:"name"`
	Tier string `json:"tier"`
}

// Identity is a registry's identity; Cobalt registries have none.
type Identity struct {
	Type string `json:"type"`
}

// Properties are a registry's properties. Those Cobalt does not implement
// (network rules, policies, encryption, data endpoints, zone redundancy)
// carry ACR's defaults.
type Properties struct {
	LoginServer                string            `json:"loginServer"`
	CreationDate               time.Time         `json:"creationDate"`
	ProvisioningState          string            `json:"provisioningState"`
	AdminUserEnabled           bool              `json:"adminUserEnabled"`
	NetworkRuleSet             networkRuleSet    `json:"networkRuleSet"`
	Policies                   policies          `json:"policies"`
	Encryption                 status            `json:"encryption"`
	DataEndpointEnabled        bool              `json:"dataEndpointEnabled"`
	DataEndpointHostNames      []string          `json:"dataEndpointHostNames"`
	PrivateEndpointConnections []json.RawMessage `json:"privateEndpointConnections"`
	PublicNetworkAccess        string            `json:"publicNetworkAccess"`
	NetworkRuleBypassOptions   string            `json:"networkRuleBypassOptions"`
	ZoneRedundancy             string            `json:"zoneRedundancy"`
	AnonymousPullEnabled       bool              `json:"anonymousPullEnabled"`
}

type networkRuleSet struct {
	DefaultAction string            `json:"defaultAction"`
	IPRules       []json.RawMessage `json:"ipRules"`
}

type status struct {
	Status string `json:"status"`
}

type trustPolicy struct {
	Type   string `json:"type"`
	Status string `json:"status"`
}

type retentionPolicy struct {
	Days   int    `json:"days"`
	Status string `json:"status"`
}

type policies struct {
	QuarantinePolicy status          `json:"quarantinePolicy"`
	TrustPolicy      trustPolicy     `json:"trustPolicy"`
	RetentionPolicy  retentionPolicy `json:"retentionPolicy"`
	ExportPolicy     status          `json:"exportPolicy"`
}

// stored is what the store keeps: the registry and the admin user's
// passwords, which only listCredentials returns. The store seals the body.
type stored struct {
	Registry
	Passwords []password `json:"passwords,omitempty"`
}

type password struct {
	Value   string    `json:"value"`
	Created time.Time `json:"created"`
}

// Credentials is the listCredentials and regenerateCredential response.
type Credentials struct {
	Username  string               `json:"username"`
	Passwords []CredentialPassword `json:"passwords"`
}

// CredentialPassword is one admin password: "password" or "password2".
type CredentialPassword struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

var passwordNames = [2]string{"password", "password2"}

func defaultProperties(now time.Time) Properties {
	return Properties{
		CreationDate: now, ProvisioningState: "Creating",
		NetworkRuleSet: networkRuleSet{DefaultAction: "Allow", IPRules: []json.RawMessage{}},
		Policies: policies{QuarantinePolicy: status{"disabled"}, TrustPolicy: trustPolicy{Type: "Notary", Status: "disabled"},
			RetentionPolicy: retentionPolicy{Days: 7, Status: "disabled"}, ExportPolicy: status{"enabled"}},
		Encryption: status{"disabled"}, DataEndpointHostNames: []string{}, PrivateEndpointConnections: []json.RawMessage{},
		PublicNetworkAccess: "Enabled", NetworkRuleBypassOptions: "AzureServices", ZoneRedundancy: "Disabled",
	}
}

// newPassword returns a 52-character password, ACR's length.
func newPassword() (string, error) {
	var b [39]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b[:]), nil
}

func decode(res store.Resource) (stored, error) {
	var s stored
	if err := json.Unmarshal(res.Body, &s); err != nil {
		return s, err
	}
	id, err := cobalt.ParseResourceID(res.ID)
	if err != nil {
		return s, err
	}
	s.ID, s.Name, s.Type = id.String(), id.Name(), TypeRegistry
	return s, nil
}

func encode(s stored) ([]byte, error) { return json.Marshal(s) }

func credentialsOf(s stored) Credentials {
	out := Credentials{Username: s.Name, Passwords: []CredentialPassword{}}
	for i, pw := range s.Passwords {
		if i < len(passwordNames) {
			out.Passwords = append(out.Passwords, CredentialPassword{Name: passwordNames[i], Value: pw.Value})
		}
	}
	return out
}

// canonicalSku returns the SKU's canonical name, or "" for an unknown one.
func canonicalSku(name string) string {
	for _, s := range []string{"Basic", "Standard", "Premium"} {
		if strings.EqualFold(s, name) {
			return s
		}
	}
	return ""
}

func validateName(name string) error {
	if !nameRe.MatchString(name) {
		return arm.Invalid("InvalidResourceName", "registryName",
			"Resource name '%s' is invalid. Registry names may contain only alpha numeric characters and must be between 5 and 50 characters.", name)
	}
	return nil
}

// nameInUse is ACR's answer to a registry name taken anywhere in the installation.
func nameInUse(name string) error {
	return cobalt.Errorf(cobalt.EConflict, "The registry DNS name %s is already in use. You can check if the name is already claimed using following API: https://docs.microsoft.com/en-us/rest/api/containerregistry/registries/checknameavailability", strings.ToLower(name)).
		WithReason("AlreadyInUse")
}

// adminDisabled is ACR's answer to a credential operation while the admin user is disabled.
func adminDisabled(id cobalt.ResourceID) error {
	return cobalt.Errorf(cobalt.EInvalid, "Cannot perform credential operations for %s as admin user is disabled. Kindly enable admin user as per docs: https://aka.ms/acr/admin-user", id.String()).
		WithReason("UnAuthorizedForCredentialOperations")
}
