package arm

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// typeIdentity is the user-assigned managed identity resource type.
const typeIdentity = "Microsoft.ManagedIdentity/userAssignedIdentities"

// identityVersions are the Microsoft.ManagedIdentity api-versions (armmsi
// v1.3.0 and @azure/arm-msi 2.2.0 send 2024-11-30).
var identityVersions = []string{
	"2015-08-31-preview", "2018-11-30", "2021-09-30-preview", "2022-01-31-preview", "2023-01-31",
	"2023-07-31-preview", "2024-11-30", "2025-01-31-preview", "2025-05-31-preview", "2026-04-30", "2026-05-31",
}

// identityNamePattern is Azure's naming rule for user-assigned identities:
// 3-128 characters of letters, digits, '-' and '_', starting with a letter or digit.
var identityNamePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$`) })

// IdentityProperties are a user-assigned identity's properties.
type IdentityProperties struct {
	TenantID       string `json:"tenantId"`
	PrincipalID    string `json:"principalId"`
	ClientID       string `json:"clientId"`
	IsolationScope string `json:"isolationScope,omitempty"`
	// AssignmentRestrictions appears from api-version 2026-05-31.
	AssignmentRestrictions *AssignmentRestrictions `json:"assignmentRestrictions,omitempty"`
}

// AssignmentRestrictions limits which resource providers may use an identity
// (api-version 2026-05-31); Cobalt records none.
type AssignmentRestrictions struct {
	Providers []string `json:"providers"`
}

// Identity is the JSON of a user-assigned managed identity.
type Identity struct {
	ID         string             `json:"id"`
	Name       string             `json:"name"`
	Type       string             `json:"type"`
	Location   string             `json:"location"`
	Tags       map[string]string  `json:"tags,omitempty"`
	Properties IdentityProperties `json:"properties"`
}

type identityProvider struct{ s *Server }

func (p *identityProvider) Register(g *Registrar) error {
	p.s = g.Server()
	g.APIVersions(typeIdentity, identityVersions...)
	const base = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
	const one = base + "/{resourceName}"
	g.Handle(Route{Pattern: "PUT " + one, Type: typeIdentity, Action: typeIdentity + "/write", Handler: p.handlePut})
	g.Handle(Route{Pattern: "PATCH " + one, Type: typeIdentity, Action: typeIdentity + "/write", Handler: p.handlePatch})
	g.Handle(Route{Pattern: "GET " + one, Type: typeIdentity, Action: typeIdentity + "/read", Handler: p.handleGet})
	g.Handle(Route{Pattern: "DELETE " + one, Type: typeIdentity, Action: typeIdentity + "/delete", Handler: p.handleDelete})
	g.Handle(Route{Pattern: "GET " + base, Type: typeIdentity, Action: typeIdentity + "/read", Handler: p.handleList})
	g.Handle(Route{Pattern: "GET /subscriptions/{subscriptionId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities",
		Type: typeIdentity, Action: typeIdentity + "/read", Handler: p.handleList})
	return nil
}

// decodeIdentity returns a stored identity as stored.
func decodeIdentity(res store.Resource) (Identity, error) {
	var m Identity
	if err := json.Unmarshal(res.Body, &m); err != nil {
		return m, err
	}
	id, err := cobalt.ParseResourceID(res.ID)
	if err != nil {
		return m, err
	}
	m.ID, m.Name, m.Type = id.String(), id.Name(), typeIdentity
	return m, nil
}

// renderIdentity returns a stored identity as the given api-version shows it.
func renderIdentity(res store.Resource, apiVersion string) (Identity, error) {
	m, err := decodeIdentity(res)
	if err != nil {
		return m, err
	}
	if apiVersion < "2024-11-30" {
		m.Properties.IsolationScope = ""
	}
	m.Properties.AssignmentRestrictions = nil
	if apiVersion >= "2026-05-31" {
		m.Properties.AssignmentRestrictions = &AssignmentRestrictions{Providers: []string{}}
	}
	return m, nil
}

func (p *identityProvider) handlePut(w http.ResponseWriter, r *Request) error {
	name := r.PathValue("resourceName")
	if !identityNamePattern().MatchString(name) {
		return Invalid("InvalidResourceName", "resourceName",
			"The resource name '%s' is invalid. A user-assigned identity name must be 3 to 128 characters long, start with a letter or number, and contain only letters, numbers, hyphens and underscores.", name)
	}
	var in struct {
		Location *string           `json:"location"`
		Tags     map[string]string `json:"tags"`
	}
	if err := r.Decode(&in); err != nil {
		return err
	}
	if in.Location == nil || strings.TrimSpace(*in.Location) == "" {
		return Invalid("LocationRequired", "location", "The location property is required for this definition.")
	}
	if err := validateTags(in.Tags); err != nil {
		return err
	}
	if err := r.RequireResourceGroup(r.ID); err != nil {
		return err
	}
	loc := normalizeLocation(*in.Location)
	existing, err := r.Store().ResourceGet(r.Context(), r.ID.Key())
	switch {
	case err == nil:
		if err := CheckPreconditions(r.Request, ETag(existing.Version)); err != nil {
			return err
		}
		updated, err := r.Store().ResourceUpdate(r.Context(), r.ID.Key(), func(res *store.Resource) error {
			m, err := decodeIdentity(*res)
			if err != nil {
				return err
			}
			if m.Location != loc {
				return Invalid("InvalidLocation", "location", "The location of an existing identity cannot be changed from '%s' to '%s'.", m.Location, loc)
			}
			m.Tags = in.Tags
			res.Body, err = json.Marshal(m)
			return err
		})
		if err != nil {
			return err
		}
		m, err := renderIdentity(updated, r.APIVersion)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, "", m)
		return nil
	case !cobalt.IsCode(err, cobalt.ENotFound):
		return err
	}
	if err := CheckPreconditions(r.Request, ""); err != nil {
		return err
	}
	if p.s.cfg.Directory == nil {
		return cobalt.Errorf(cobalt.EInternal, "no directory is configured for managed identities")
	}
	pr, err := p.s.cfg.Directory.CreateManagedIdentityPrincipal(r.Context(), p.s.cfg.TenantID, name, r.ID.String())
	if err != nil {
		return err
	}
	m := Identity{Location: loc, Tags: in.Tags, Properties: IdentityProperties{
		TenantID: pr.TenantID, PrincipalID: pr.ObjectID, ClientID: pr.ClientID, IsolationScope: "None"}}
	if m.Properties.TenantID == "" {
		m.Properties.TenantID = p.s.cfg.TenantID
	}
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	created, err := r.Store().ResourceCreate(r.Context(), NewResource(r.ID, body))
	if err != nil {
		// Another request created it first: drop our principal and answer as an update.
		_ = p.s.cfg.Directory.DeletePrincipal(context.WithoutCancel(r.Context()), pr.ObjectID)
		if cobalt.IsCode(err, cobalt.EConflict) {
			return p.handlePut(w, r)
		}
		return err
	}
	p.s.audit(r.Context(), "identity.created", r.Caller.ObjectID, r.ID.String(),
		map[string]string{"principalId": pr.ObjectID, "clientId": pr.ClientID})
	out, err := renderIdentity(created, r.APIVersion)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, "", out)
	return nil
}

func (p *identityProvider) handlePatch(w http.ResponseWriter, r *Request) error {
	updated, err := patchTags(r, decodeIdentity, func(m *Identity, tags map[string]string) { m.Tags = tags })
	if err != nil {
		return err
	}
	m, err := renderIdentity(updated, r.APIVersion)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, "", m)
	return nil
}

func (p *identityProvider) handleGet(w http.ResponseWriter, r *Request) error {
	res, err := r.Store().ResourceGet(r.Context(), r.ID.Key())
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return r.ResourceNotFound(r.ID)
	}
	if err != nil {
		return err
	}
	m, err := renderIdentity(res, r.APIVersion)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, "", m)
	return nil
}

func (p *identityProvider) handleDelete(w http.ResponseWriter, r *Request) error {
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
	// Its federated identity credentials go with it.
	if err := p.s.DeleteScope(r.Context(), r.ID); err != nil {
		return err
	}
	if err := p.s.deleteStored(r.Context(), res); err != nil {
		return err
	}
	p.s.audit(r.Context(), "identity.deleted", r.Caller.ObjectID, res.ID, nil)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (p *identityProvider) handleList(w http.ResponseWriter, r *Request) error {
	page, err := r.PageToken(100)
	if err != nil {
		return err
	}
	params := store.ResourceListParams{Type: typeIdentity, SubscriptionID: r.PathValue("subscriptionId"),
		ResourceGroup: r.PathValue("resourceGroupName"), Page: page}
	if params.ResourceGroup != "" {
		if err := r.RequireResourceGroup(r.ID); err != nil {
			return err
		}
	}
	res, next, err := r.Store().ResourceList(r.Context(), params)
	if err != nil {
		return err
	}
	out := make([]Identity, 0, len(res))
	for _, x := range res {
		m, err := renderIdentity(x, r.APIVersion)
		if err != nil {
			return err
		}
		out = append(out, m)
	}
	r.WriteList(w, out, next)
	return nil
}

// deleteIdentityPrincipal deletes the principal behind a stored identity, so
// that it gets no new tokens.
func (s *Server) deleteIdentityPrincipal(ctx context.Context, res store.Resource) error {
	var m Identity
	if err := json.Unmarshal(res.Body, &m); err != nil {
		return err
	}
	if m.Properties.PrincipalID == "" || s.cfg.Directory == nil {
		return nil
	}
	if err := s.cfg.Directory.DeletePrincipal(ctx, m.Properties.PrincipalID); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	s.audit(ctx, "identity.principal.deleted", "system", res.ID, map[string]string{"principalId": m.Properties.PrincipalID})
	return nil
}

// audit appends an audit record; a failure is logged, not returned.
func (s *Server) audit(ctx context.Context, kind, actor, subject string, fields map[string]string) {
	if fields == nil {
		fields = map[string]string{}
	}
	err := s.cfg.Store.AuditAppend(ctx, store.AuditRecord{Time: s.cfg.Now().UTC(), Kind: kind, Actor: actor, Subject: subject, Fields: fields})
	if err != nil {
		s.log.ErrorContext(ctx, "audit append failed", logkey.AuditKind, kind, logkey.AuditSubject, subject, logkey.Err, err)
	}
}

// LookupIdentity returns the principal of the user-assigned identity with the
// given resource ID (case-insensitive), or ENotFound if the identity is gone.
func (s *Server) LookupIdentity(ctx context.Context, resourceID string) (cobalt.Principal, error) {
	id, err := cobalt.ParseResourceID(resourceID)
	if err != nil {
		return cobalt.Principal{}, err
	}
	if !strings.EqualFold(id.Type(), typeIdentity) {
		return cobalt.Principal{}, cobalt.Errorf(cobalt.EInvalid, "The resource '%s' is not a user-assigned identity.", resourceID).
			WithReason("InvalidIdentityResourceId")
	}
	res, err := s.cfg.Store.ResourceGet(ctx, id.Key())
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return cobalt.Principal{}, NotFound(id)
	}
	if err != nil {
		return cobalt.Principal{}, err
	}
	m, err := decodeIdentity(res)
	if err != nil {
		return cobalt.Principal{}, err
	}
	return cobalt.Principal{ObjectID: m.Properties.PrincipalID, ClientID: m.Properties.ClientID, TenantID: m.Properties.TenantID,
		Kind: cobalt.KindManagedIdentity, DisplayName: m.Name, ResourceID: m.ID}, nil
}
