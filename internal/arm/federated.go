package arm

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// typeFederated is the federated identity credential resource type.
const typeFederated = cobalt.FederatedCredentialType

// federatedNamePattern is the spec's rule for a credential's name. This
// file's and the other name patterns of arm compile at first use: their
// repeat counts compile into copies of the class, which every start of the
// binary (node inits included) paid for.
var federatedNamePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{2,119}$`) })

// maxFederatedField is Entra's limit on the length of an issuer, a subject
// and an audience.
const maxFederatedField = 600

// federatedVersions are the identity api-versions that have federated
// identity credentials (2022-01-31-preview and later).
func federatedVersions() []string {
	var out []string
	for _, v := range identityVersions {
		if v >= "2022-01-31-preview" {
			out = append(out, v)
		}
	}
	return out
}

// FederatedCredentialJSON is the ARM JSON of a federated identity credential.
type FederatedCredentialJSON struct {
	ID         string                     `json:"id"`
	Name       string                     `json:"name"`
	Type       string                     `json:"type"`
	Properties cobalt.FederatedCredential `json:"properties"`
}

// federatedProvider serves .../userAssignedIdentities/{n}/federatedIdentityCredentials.
type federatedProvider struct {
	s *Server
	// mu serializes writes of credentials, so that the per-identity limit and
	// the issuer and subject uniqueness hold within this process.
	mu sync.Mutex
}

func (p *federatedProvider) Register(g *Registrar) error {
	p.s = g.Server()
	g.APIVersions(typeFederated, federatedVersions()...)
	const base = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}/federatedIdentityCredentials"
	const one = base + "/{federatedIdentityCredentialResourceName}"
	g.Handle(Route{Pattern: "PUT " + one, Type: typeFederated, Action: typeFederated + "/write", Handler: p.handlePut})
	g.Handle(Route{Pattern: "GET " + one, Type: typeFederated, Action: typeFederated + "/read", Handler: p.handleGet})
	g.Handle(Route{Pattern: "DELETE " + one, Type: typeFederated, Action: typeFederated + "/delete", Handler: p.handleDelete})
	g.Handle(Route{Pattern: "GET " + base, Type: typeFederated, Action: typeFederated + "/read", Handler: p.handleList})
	return nil
}

// renderFederated returns a stored credential's ARM JSON.
func renderFederated(res store.Resource) (FederatedCredentialJSON, error) {
	var out FederatedCredentialJSON
	if err := json.Unmarshal(res.Body, &out.Properties); err != nil {
		return out, err
	}
	id, err := cobalt.ParseResourceID(res.ID)
	if err != nil {
		return out, err
	}
	if out.Properties.Audiences == nil {
		out.Properties.Audiences = []string{}
	}
	out.ID, out.Name, out.Type = id.String(), id.Name(), typeFederated
	return out, nil
}

// badFederated is the MSI resource provider's 400 for a malformed credential.
func badFederated(target, format string, args ...any) error {
	return Invalid("BadRequest", target, format, args...)
}

// validateFederated checks a credential's properties as Azure does.
func validateFederated(fc *cobalt.FederatedCredential) error {
	if fc.Issuer == "" || fc.Subject == "" || len(fc.Audiences) == 0 {
		return badFederated("properties", "The request format was unexpected. Federated Identity Credential must specify 'issuer', 'subject' and 'audience'.")
	}
	u, err := url.Parse(fc.Issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return badFederated("properties.issuer", "The request format was unexpected. The issuer '%s' must be a valid https URL.", clipValue(fc.Issuer))
	}
	if len(fc.Issuer) > maxFederatedField {
		return badFederated("properties.issuer", "The issuer must be at most %d characters long.", maxFederatedField)
	}
	if len(fc.Subject) > maxFederatedField {
		return badFederated("properties.subject", "The subject must be at most %d characters long.", maxFederatedField)
	}
	for _, a := range fc.Audiences {
		if strings.TrimSpace(a) == "" || len(a) > maxFederatedField {
			return badFederated("properties.audiences", "Each audience must be 1 to %d characters long.", maxFederatedField)
		}
	}
	return nil
}

// clipValue shortens a client-supplied value echoed in an error message.
func clipValue(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// parent returns the identity that encloses a credential's ID, or ARM's
// 404 when it (or its resource group) does not exist.
func (p *federatedProvider) parent(r *Request) (cobalt.ResourceID, error) {
	parent := r.ID.Parent()
	if !strings.EqualFold(r.ID.Type(), typeFederated) {
		// A collection path: r.ID is the identity itself.
		parent = r.ID
	}
	if _, err := r.Store().ResourceGet(r.Context(), parent.Key()); err != nil {
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return parent, r.ResourceNotFound(parent)
		}
		return parent, err
	}
	return parent, nil
}

// siblings lists every credential of an identity.
func (p *federatedProvider) siblings(r *Request, parent cobalt.ResourceID) ([]store.Resource, error) {
	var out []store.Resource
	page := store.Page{Limit: 100}
	for {
		rs, next, err := r.Store().ResourceList(r.Context(), store.ResourceListParams{Type: typeFederated, ParentKey: parent.Key(), Page: page})
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
		if next == "" {
			return out, nil
		}
		page.Token = next
	}
}

func (p *federatedProvider) handlePut(w http.ResponseWriter, r *Request) error {
	name := r.PathValue("federatedIdentityCredentialResourceName")
	if !federatedNamePattern().MatchString(name) {
		return Invalid("InvalidResourceName", "federatedIdentityCredentialResourceName",
			"The resource name '%s' is invalid. A federated identity credential name must be 3 to 120 characters long, start with a letter or number, and contain only letters, numbers, hyphens and underscores.", clipValue(name))
	}
	var in struct {
		Properties *cobalt.FederatedCredential `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return err
	}
	if in.Properties == nil {
		in.Properties = &cobalt.FederatedCredential{}
	}
	fc := *in.Properties
	if err := validateFederated(&fc); err != nil {
		return err
	}
	parent, err := p.parent(r)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	sibs, err := p.siblings(r, parent)
	if err != nil {
		return err
	}
	var existing *store.Resource
	for i, s := range sibs {
		if s.Key == r.ID.Key() {
			existing = &sibs[i]
			continue
		}
		var other cobalt.FederatedCredential
		if json.Unmarshal(s.Body, &other) == nil && other.Issuer == fc.Issuer && other.Subject == fc.Subject {
			return badFederated("properties", "Issuer and subject combination already exists for this Managed Identity.")
		}
	}
	body, err := json.Marshal(fc)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	var saved store.Resource
	if existing != nil {
		if err := CheckPreconditions(r.Request, ETag(existing.Version)); err != nil {
			return err
		}
		status = http.StatusOK
		saved, err = r.Store().ResourceUpdate(r.Context(), r.ID.Key(), func(res *store.Resource) error {
			res.Body = body
			return nil
		})
	} else {
		if err := CheckPreconditions(r.Request, ""); err != nil {
			return err
		}
		if len(sibs) >= cobalt.MaxFederatedCredentials {
			return badFederated("", "The user-assigned identity '%s' already has the maximum of %d federated identity credentials.",
				parent.Name(), cobalt.MaxFederatedCredentials)
		}
		saved, err = r.Store().ResourceCreate(r.Context(), NewResource(r.ID, body))
	}
	if err != nil {
		return err
	}
	p.s.audit(r.Context(), "identity.federatedcredential.written", r.Caller.ObjectID, r.ID.String(),
		map[string]string{"issuer": fc.Issuer, "subject": fc.Subject})
	out, err := renderFederated(saved)
	if err != nil {
		return err
	}
	WriteJSON(w, status, "", out)
	return nil
}

func (p *federatedProvider) handleGet(w http.ResponseWriter, r *Request) error {
	if _, err := p.parent(r); err != nil {
		return err
	}
	res, err := r.Store().ResourceGet(r.Context(), r.ID.Key())
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return NotFound(r.ID)
	}
	if err != nil {
		return err
	}
	out, err := renderFederated(res)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, "", out)
	return nil
}

func (p *federatedProvider) handleDelete(w http.ResponseWriter, r *Request) error {
	if _, err := p.parent(r); err != nil {
		return err
	}
	res, err := r.Store().ResourceGet(r.Context(), r.ID.Key())
	if cobalt.IsCode(err, cobalt.ENotFound) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	if err := CheckPreconditions(r.Request, ETag(res.Version)); err != nil {
		return err
	}
	if err := r.Store().ResourceDelete(r.Context(), res.Key); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	p.s.audit(r.Context(), "identity.federatedcredential.deleted", r.Caller.ObjectID, res.ID, nil)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (p *federatedProvider) handleList(w http.ResponseWriter, r *Request) error {
	parent, err := p.parent(r)
	if err != nil {
		return err
	}
	page, err := r.PageToken(100)
	if err != nil {
		return err
	}
	rs, next, err := r.Store().ResourceList(r.Context(), store.ResourceListParams{Type: typeFederated, ParentKey: parent.Key(), Page: page})
	if err != nil {
		return err
	}
	out := make([]FederatedCredentialJSON, 0, len(rs))
	for _, res := range rs {
		fc, err := renderFederated(res)
		if err != nil {
			return err
		}
		out = append(out, fc)
	}
	r.WriteList(w, out, next)
	return nil
}
