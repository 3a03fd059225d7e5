package arm

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Microsoft.Resources types.
const (
	typeSubscription  = "Microsoft.Resources/subscriptions"
	typeResourceGroup = "Microsoft.Resources/resourceGroups"
	typeTenant        = "Microsoft.Resources/tenants"
)

// resourcesVersions are the stable api-versions of Microsoft.Resources in the
// REST specs (armresources v1.2.0 sends 2021-04-01; subscriptions clients 2022-12-01).
var resourcesVersions = []string{
	"2016-02-01", "2016-06-01", "2016-09-01", "2017-05-10", "2018-02-01", "2018-05-01", "2019-03-01", "2019-05-01",
	"2019-05-10", "2019-06-01", "2019-07-01", "2019-08-01", "2019-10-01", "2019-11-01", "2020-01-01", "2020-06-01",
	"2020-08-01", "2020-10-01", "2021-01-01", "2021-04-01", "2022-09-01", "2022-12-01", "2023-07-01",
	"2024-03-01", "2024-07-01", "2024-11-01", "2025-04-01",
}

// rgNamePattern is Azure's resource group naming rule: 1-90 characters of
// letters, digits, '_', '-', '.', '(' and ')', not ending with '.'. The
// length is counted apart: `{1,90}` of two Unicode classes compiles into
// 90 copies of them (3.5 MB, 13 ms at every start of the binary, node inits
// included).
var rgNamePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\p{L}\p{N}_\-.()]+$`) })

type resourcesProvider struct{ s *Server }

// ResourceGroup is the JSON of a resource group.
type ResourceGroup struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	ManagedBy  string            `json:"managedBy,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties struct {
		ProvisioningState string `json:"provisioningState"`
	} `json:"properties"`
}

// Subscription is the JSON of a subscription.
type Subscription struct {
	ID                   string            `json:"id"`
	SubscriptionID       string            `json:"subscriptionId"`
	TenantID             string            `json:"tenantId"`
	DisplayName          string            `json:"displayName"`
	State                string            `json:"state"`
	SubscriptionPolicies map[string]string `json:"subscriptionPolicies"`
	AuthorizationSource  string            `json:"authorizationSource"`
	ManagedByTenants     []any             `json:"managedByTenants"`
	Tags                 map[string]string `json:"tags,omitempty"`
}

func (p *resourcesProvider) Register(g *Registrar) error {
	p.s = g.Server()
	g.APIVersions(typeSubscription, resourcesVersions...)
	g.APIVersions(typeResourceGroup, resourcesVersions...)
	const rg = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"
	const rgWrite = "Microsoft.Resources/subscriptions/resourceGroups/write"
	const rgRead = "Microsoft.Resources/subscriptions/resourceGroups/read"
	g.APIVersions(typeTenant, resourcesVersions...)
	g.Handle(Route{Pattern: "GET /tenants", Type: typeTenant, Handler: p.handleListTenants})
	g.Handle(Route{Pattern: "GET /subscriptions", Type: typeSubscription, Handler: p.handleListSubscriptions})
	g.Handle(Route{Pattern: "GET /subscriptions/{subscriptionId}", Type: typeSubscription, Handler: p.handleGetSubscription})
	g.Handle(Route{Pattern: "GET /subscriptions/{subscriptionId}/resourceGroups", Type: typeResourceGroup, Handler: p.handleListGroups})
	g.Handle(Route{Pattern: "GET /subscriptions/{subscriptionId}/resources", Type: typeResourceGroup, Handler: p.handleListGenericResources})
	g.Handle(Route{Pattern: "GET " + rg + "/resources", Type: typeResourceGroup, Handler: p.handleListGenericResources})
	g.Handle(Route{Pattern: "PUT " + rg, Type: typeResourceGroup, Action: rgWrite, Handler: p.handlePutGroup})
	g.Handle(Route{Pattern: "PATCH " + rg, Type: typeResourceGroup, Action: rgWrite, Handler: p.handlePatchGroup})
	g.Handle(Route{Pattern: "GET " + rg, Type: typeResourceGroup, Action: rgRead, Handler: p.handleGetGroup})
	g.Handle(Route{Pattern: "HEAD " + rg, Type: typeResourceGroup, Action: rgRead, Handler: p.handleHeadGroup})
	g.Handle(Route{Pattern: "DELETE " + rg, Type: typeResourceGroup, Action: "Microsoft.Resources/subscriptions/resourceGroups/delete", Handler: p.handleDeleteGroup})
	return nil
}

func (p *resourcesProvider) subscription() Subscription {
	c := p.s.cfg
	return Subscription{ID: "/subscriptions/" + c.SubscriptionID, SubscriptionID: c.SubscriptionID, TenantID: c.TenantID,
		DisplayName: "Cobalt", State: "Enabled", AuthorizationSource: "RoleBased", ManagedByTenants: []any{},
		SubscriptionPolicies: map[string]string{"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"}}
}

// visible reports whether the caller holds any role assignment at, above or
// below the subscription: ARM lists the subscriptions a caller has access to.
func (p *resourcesProvider) visible(r *Request) (bool, error) {
	sub := cobalt.ResourceID{SubscriptionID: p.s.cfg.SubscriptionID}
	var keys []string
	for _, a := range sub.Ancestry() {
		keys = append(keys, a.Key())
	}
	as, _, err := r.Store().RoleAssignmentList(r.Context(), store.RoleAssignmentListParams{
		ScopeKeys: keys, BelowKey: sub.Key(), PrincipalID: r.Caller.ObjectID, Page: store.Page{Limit: 1}})
	return len(as) > 0, err
}

func (p *resourcesProvider) handleListSubscriptions(w http.ResponseWriter, r *Request) error {
	ok, err := p.visible(r)
	if err != nil {
		return err
	}
	var subs []Subscription
	if ok {
		subs = append(subs, p.subscription())
	}
	r.WriteList(w, subs, "")
	return nil
}

// handleListTenants lists the installation's one tenant (GET /tenants, which
// az login and the subscriptions clients call).
func (p *resourcesProvider) handleListTenants(w http.ResponseWriter, r *Request) error {
	t := p.s.cfg.TenantID
	r.WriteList(w, []map[string]any{{"id": "/tenants/" + t, "tenantId": t, "tenantCategory": "Home",
		"displayName": "Cobalt", "domains": []string{}, "tenantType": "AAD"}}, "")
	return nil
}

func (p *resourcesProvider) handleGetSubscription(w http.ResponseWriter, r *Request) error {
	ok, err := p.visible(r)
	if err != nil {
		return err
	}
	if !ok {
		return r.Check("Microsoft.Resources/subscriptions/read", r.ID)
	}
	WriteJSON(w, http.StatusOK, "", p.subscription())
	return nil
}

func groupID(sub, name string) cobalt.ResourceID {
	return cobalt.ResourceID{SubscriptionID: sub, ResourceGroup: name}
}

func groupResource(id cobalt.ResourceID, body []byte) store.Resource {
	return store.Resource{ID: id.String(), Key: id.Key(), Type: strings.ToLower(typeResourceGroup),
		ParentKey: id.Parent().Key(), SubscriptionID: strings.ToLower(id.SubscriptionID),
		ResourceGroup: strings.ToLower(id.ResourceGroup), Body: body}
}

func renderGroup(res store.Resource) (ResourceGroup, error) {
	var g ResourceGroup
	if err := json.Unmarshal(res.Body, &g); err != nil {
		return g, err
	}
	id, err := cobalt.ParseResourceID(res.ID)
	if err != nil {
		return g, err
	}
	g.ID, g.Name, g.Type = id.String(), id.ResourceGroup, typeResourceGroup
	return g, nil
}

// normalizeLocation folds a display name ("East US") to ARM's form ("eastus").
func normalizeLocation(l string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(l), " ", ""))
}

func validateGroupName(name string) error {
	if utf8.RuneCountInString(name) > 90 || !rgNamePattern().MatchString(name) || strings.HasSuffix(name, ".") {
		return Invalid("InvalidResourceGroupName", "resourceGroupName",
			"The resource group name '%s' is invalid. Resource group names can be 1 to 90 characters long and can only include alphanumeric, underscore, parentheses, hyphen and period (except at the end) characters.", name)
	}
	return nil
}

func (p *resourcesProvider) handlePutGroup(w http.ResponseWriter, r *Request) error {
	name := r.PathValue("resourceGroupName")
	if err := validateGroupName(name); err != nil {
		return err
	}
	var in struct {
		Location  *string           `json:"location"`
		Tags      map[string]string `json:"tags"`
		ManagedBy string            `json:"managedBy"`
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
	loc := normalizeLocation(*in.Location)
	id := groupID(r.PathValue("subscriptionId"), name)
	existing, err := r.Store().ResourceGet(r.Context(), id.Key())
	switch {
	case err == nil:
		if err := CheckPreconditions(r.Request, ETag(existing.Version)); err != nil {
			return err
		}
		var updated store.Resource
		updated, err = r.Store().ResourceUpdate(r.Context(), id.Key(), func(res *store.Resource) error {
			g, err := renderGroup(*res)
			if err != nil {
				return err
			}
			if g.Location != loc {
				return cobalt.Errorf(cobalt.EConflict, "Invalid resource group location '%s'. The Resource group already exists in location '%s'.", loc, g.Location).
					WithReason("InvalidResourceGroupLocation").WithTarget("location")
			}
			g.Tags, g.ManagedBy = in.Tags, in.ManagedBy
			res.Body, err = json.Marshal(g)
			return err
		})
		if err != nil {
			return err
		}
		g, err := renderGroup(updated)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, "", g)
		return nil
	case cobalt.IsCode(err, cobalt.ENotFound):
		if err := CheckPreconditions(r.Request, ""); err != nil {
			return err
		}
		g := ResourceGroup{Location: loc, Tags: in.Tags, ManagedBy: in.ManagedBy}
		g.Properties.ProvisioningState = "Succeeded"
		body, err := json.Marshal(g)
		if err != nil {
			return err
		}
		created, err := r.Store().ResourceCreate(r.Context(), groupResource(id, body))
		if cobalt.IsCode(err, cobalt.EConflict) {
			return p.handlePutGroup(w, r) // lost a race with another create: update instead
		}
		if err != nil {
			return err
		}
		out, err := renderGroup(created)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusCreated, "", out)
		return nil
	default:
		return err
	}
}

func (p *resourcesProvider) groupNotFound(name string) error {
	return cobalt.Errorf(cobalt.ENotFound, "Resource group '%s' could not be found.", name).WithReason("ResourceGroupNotFound")
}

func (p *resourcesProvider) handlePatchGroup(w http.ResponseWriter, r *Request) error {
	var in struct {
		Tags      *map[string]string `json:"tags"`
		ManagedBy *string            `json:"managedBy"`
	}
	if err := r.Decode(&in); err != nil {
		return err
	}
	if in.Tags != nil {
		if err := validateTags(*in.Tags); err != nil {
			return err
		}
	}
	name := r.PathValue("resourceGroupName")
	id := groupID(r.PathValue("subscriptionId"), name)
	updated, err := r.Store().ResourceUpdate(r.Context(), id.Key(), func(res *store.Resource) error {
		if err := CheckPreconditions(r.Request, ETag(res.Version)); err != nil {
			return err
		}
		g, err := renderGroup(*res)
		if err != nil {
			return err
		}
		if in.Tags != nil {
			g.Tags = *in.Tags
		}
		if in.ManagedBy != nil {
			g.ManagedBy = *in.ManagedBy
		}
		res.Body, err = json.Marshal(g)
		return err
	})
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return p.groupNotFound(name)
	}
	if err != nil {
		return err
	}
	g, err := renderGroup(updated)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, "", g)
	return nil
}

func (p *resourcesProvider) handleGetGroup(w http.ResponseWriter, r *Request) error {
	name := r.PathValue("resourceGroupName")
	res, err := r.Store().ResourceGet(r.Context(), groupID(r.PathValue("subscriptionId"), name).Key())
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return p.groupNotFound(name)
	}
	if err != nil {
		return err
	}
	g, err := renderGroup(res)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, "", g)
	return nil
}

func (p *resourcesProvider) handleHeadGroup(w http.ResponseWriter, r *Request) error {
	_, err := r.Store().ResourceGet(r.Context(), groupID(r.PathValue("subscriptionId"), r.PathValue("resourceGroupName")).Key())
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case cobalt.IsCode(err, cobalt.ENotFound):
		w.WriteHeader(http.StatusNotFound)
	default:
		return err
	}
	return nil
}

func (p *resourcesProvider) handleListGroups(w http.ResponseWriter, r *Request) error {
	page, err := r.PageToken(100)
	if err != nil {
		return err
	}
	all, err := r.Permitted("Microsoft.Resources/subscriptions/resourceGroups/read", r.ID)
	if err != nil {
		return err
	}
	res, next, err := r.Store().ResourceList(r.Context(), store.ResourceListParams{Type: typeResourceGroup,
		SubscriptionID: r.PathValue("subscriptionId"), Page: page})
	if err != nil {
		return err
	}
	out := make([]ResourceGroup, 0, len(res))
	for _, x := range res {
		g, err := renderGroup(x)
		if err != nil {
			return err
		}
		if !all {
			id := groupID(r.PathValue("subscriptionId"), g.Name)
			ok, err := r.Permitted("Microsoft.Resources/subscriptions/resourceGroups/read", id)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		out = append(out, g)
	}
	r.WriteList(w, out, next)
	return nil
}

// handleDeleteGroup deletes a resource group and everything in it, as a
// long-running operation (202 with Location, as ARM).
func (p *resourcesProvider) handleDeleteGroup(w http.ResponseWriter, r *Request) error {
	name := r.PathValue("resourceGroupName")
	id := groupID(r.PathValue("subscriptionId"), name)
	res, err := r.Store().ResourceGet(r.Context(), id.Key())
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return p.groupNotFound(name)
	}
	if err != nil {
		return err
	}
	if err := CheckPreconditions(r.Request, ETag(res.Version)); err != nil {
		return err
	}
	_, err = r.Store().ResourceUpdate(r.Context(), id.Key(), func(res *store.Resource) error {
		g, err := renderGroup(*res)
		if err != nil {
			return err
		}
		g.Properties.ProvisioningState = "Deleting"
		res.Body, err = json.Marshal(g)
		return err
	})
	if err != nil {
		return err
	}
	return r.Accepted(w, LRO{RetryAfter: 1}, func(ctx context.Context) (any, error) {
		if err := p.s.DeleteScope(ctx, id); err != nil {
			return nil, err
		}
		if err := p.s.cfg.Store.ResourceDelete(ctx, id.Key()); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
			return nil, err
		}
		// Assignments made at the group itself go with it.
		for {
			as, _, err := p.s.cfg.Store.RoleAssignmentList(ctx, store.RoleAssignmentListParams{ScopeKeys: []string{id.Key()}, Page: store.Page{Limit: 500}})
			if err != nil {
				return nil, err
			}
			if len(as) == 0 {
				return nil, nil
			}
			for _, a := range as {
				if _, err := p.s.cfg.Authz.Delete(ctx, "system", a.ID); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
					return nil, err
				}
			}
		}
	})
}

// validateTags applies ARM's tag limits: at most 50 tags, names up to 512
// characters without '<', '>', '%', '&', '\', '?', '/', values up to 256.
func validateTags(tags map[string]string) error {
	if len(tags) > 50 {
		return Invalid("InvalidTag", "tags", "The number of tags exceeds the limit of 50.")
	}
	for k, v := range tags {
		if k == "" || len(k) > 512 || strings.ContainsAny(k, `<>%&\?/`) {
			return Invalid("InvalidTagName", "tags", "The tag name '%s' is invalid. Tag names can be up to 512 characters and cannot contain '<', '>', '%%', '&', '\\', '?' or '/'.", k)
		}
		if len(v) > 256 {
			return Invalid("InvalidTagValue", "tags."+k, "The value of the tag '%s' exceeds the limit of 256 characters.", k)
		}
	}
	return nil
}
