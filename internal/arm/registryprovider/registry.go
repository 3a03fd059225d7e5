package registryprovider

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/arm"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func readBody(r *arm.Request) ([]byte, error) {
	var raw json.RawMessage
	if err := r.Decode(&raw); err != nil {
		return nil, err
	}
	return raw, nil
}

func (p *Provider) handlePut(w http.ResponseWriter, r *arm.Request) error {
	name := r.PathValue("registryName")
	if err := validateName(name); err != nil {
		return err
	}
	b, err := readBody(r)
	if err != nil {
		return err
	}
	existing, err := r.Store().ResourceGet(r.Context(), r.ID.Key())
	if err == nil {
		in, err := decodeRequest(b, false)
		if err != nil {
			return err
		}
		return p.update(w, r, existing, in, true)
	} else if !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	in, err := decodeRequest(b, true)
	if err != nil {
		return err
	}
	if err := arm.CheckPreconditions(r.Request, ""); err != nil {
		return err
	}
	if err := r.RequireResourceGroup(r.ID); err != nil {
		return err
	}
	if _, err := p.find(r.Context(), name); err == nil {
		return nameInUse(name)
	} else if !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	now := p.cfg.Now().UTC()
	s := stored{Registry: Registry{Location: strings.ToLower(strings.ReplaceAll(*in.Location, " ", "")), Properties: defaultProperties(now)}}
	if err := in.apply(&s, now); err != nil {
		return err
	}
	body, err := encode(s)
	if err != nil {
		return err
	}
	res := arm.NewResource(r.ID, body)
	res.UniqueName = strings.ToLower(name)
	created, err := r.Store().ResourceCreate(r.Context(), res)
	if cobalt.IsCode(err, cobalt.EConflict) {
		// A concurrent request took the name, here or in another resource group.
		return nameInUse(name)
	}
	if err != nil {
		return err
	}
	ep, err := p.cfg.Endpoints.AllocateRegistryEndpoint(r.Context(), name)
	if err != nil {
		// Nothing half-made stays behind: the name is free again.
		_ = r.Store().ResourceDelete(context.WithoutCancel(r.Context()), created.Key)
		return err
	}
	done, err := r.Store().ResourceUpdate(r.Context(), created.Key, func(res *store.Resource) error {
		cur, err := decode(*res)
		if err != nil {
			return err
		}
		if cur.Properties.ProvisioningState == "Deleting" {
			return cobalt.Errorf(cobalt.EConflict, "The registry %s was deleted while it was created.", name).WithReason("Conflict")
		}
		cur.Properties.LoginServer, cur.Properties.ProvisioningState = ep, "Succeeded"
		res.Body, err = encode(cur)
		return err
	})
	p.clearCache()
	if err != nil {
		return err
	}
	out, err := decode(done)
	if err != nil {
		return err
	}
	p.log.Info("registry created", logkey.Registry, name, logkey.Endpoint, ep)
	// Created and provisioned in this request: 201 with provisioningState
	// Succeeded, which the SDKs' pollers take as the final state.
	arm.WriteJSON(w, http.StatusCreated, arm.ETag(done.Version), out.Registry)
	return nil
}

func (p *Provider) handlePatch(w http.ResponseWriter, r *arm.Request) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	in, err := decodeRequest(b, false)
	if err != nil {
		return err
	}
	existing, err := r.Store().ResourceGet(r.Context(), r.ID.Key())
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return r.ResourceNotFound(r.ID)
	}
	if err != nil {
		return err
	}
	return p.update(w, r, existing, in, false)
}

// update applies a PUT on an existing registry or a PATCH, answering 200.
// The registry's listener is opened again if it is not open (a start that
// could not open it), so an update also repairs the login server.
func (p *Provider) update(w http.ResponseWriter, r *arm.Request, existing store.Resource, in request, put bool) error {
	cur, err := decode(existing)
	if err != nil {
		return err
	}
	if put && in.Location != nil && !strings.EqualFold(strings.ReplaceAll(*in.Location, " ", ""), cur.Location) {
		return arm.Invalid("LocationNotAvailableForResourceType", "location", "The location of an existing registry cannot be changed.")
	}
	if cur.Properties.ProvisioningState == "Deleting" {
		return cobalt.Errorf(cobalt.EConflict, "The registry %s is being deleted.", cur.Name).WithReason("Conflict")
	}
	ep, err := p.cfg.Endpoints.AllocateRegistryEndpoint(r.Context(), cur.Name)
	if err != nil {
		return err
	}
	now := p.cfg.Now().UTC()
	deleting := false
	updated, err := r.Store().ResourceUpdate(r.Context(), r.ID.Key(), func(res *store.Resource) error {
		if err := arm.CheckPreconditions(r.Request, arm.ETag(res.Version)); err != nil {
			return err
		}
		cur, err := decode(*res)
		if err != nil {
			return err
		}
		if cur.Properties.ProvisioningState == "Deleting" {
			deleting = true
			return cobalt.Errorf(cobalt.EConflict, "The registry %s is being deleted.", cur.Name).WithReason("Conflict")
		}
		if err := in.apply(&cur, now); err != nil {
			return err
		}
		cur.Properties.LoginServer, cur.Properties.ProvisioningState = ep, "Succeeded"
		res.Body, err = encode(cur)
		return err
	})
	if deleting {
		// A delete began meanwhile: the listener opened above must not outlive it.
		_ = p.cfg.Endpoints.ReleaseRegistryEndpoint(context.WithoutCancel(r.Context()), existing.ID[strings.LastIndex(existing.ID, "/")+1:])
	}
	p.clearCache()
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return r.ResourceNotFound(r.ID)
	}
	if err != nil {
		return err
	}
	out, err := decode(updated)
	if err != nil {
		return err
	}
	arm.WriteJSON(w, http.StatusOK, arm.ETag(updated.Version), out.Registry)
	return nil
}

func (p *Provider) load(r *arm.Request) (store.Resource, stored, error) {
	res, err := r.Store().ResourceGet(r.Context(), r.ID.Key())
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return res, stored{}, r.ResourceNotFound(r.ID)
	}
	if err != nil {
		return res, stored{}, err
	}
	s, err := decode(res)
	return res, s, err
}

func (p *Provider) handleGet(w http.ResponseWriter, r *arm.Request) error {
	res, s, err := p.load(r)
	if err != nil {
		return err
	}
	arm.WriteJSON(w, http.StatusOK, arm.ETag(res.Version), s.Registry)
	return nil
}

// handleDelete answers 202 with a Location header (ACR's delete is
// long-running: final-state-via location); the operation closes the
// registry's listener, removes its content and role assignments, then the
// resource. A registry that does not exist is 204.
func (p *Provider) handleDelete(w http.ResponseWriter, r *arm.Request) error {
	res, err := r.Store().ResourceGet(r.Context(), r.ID.Key())
	if cobalt.IsCode(err, cobalt.ENotFound) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	if err := arm.CheckPreconditions(r.Request, arm.ETag(res.Version)); err != nil {
		return err
	}
	id := r.ID
	_, err = r.Store().ResourceUpdate(r.Context(), res.Key, func(x *store.Resource) error {
		cur, err := decode(*x)
		if err != nil {
			return err
		}
		cur.Properties.ProvisioningState = "Deleting"
		x.Body, err = encode(cur)
		return err
	})
	if err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	return r.Accepted(w, arm.LRO{RetryAfter: 1}, func(ctx context.Context) (any, error) {
		if err := p.srv.DeleteScope(ctx, id); err != nil {
			return nil, err
		}
		if err := p.deleteAssignmentsAt(ctx, id); err != nil {
			return nil, err
		}
		if err := p.st.ResourceDelete(ctx, id.Key()); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
			return nil, err
		}
		p.clearCache()
		p.log.Info("registry deleted", logkey.Registry, id.Name())
		return nil, nil
	})
}

// deleteAssignmentsAt removes the role assignments made at the registry's
// own scope (the front door removes those below it): a registry created
// later with the same name starts with none.
func (p *Provider) deleteAssignmentsAt(ctx context.Context, id cobalt.ResourceID) error {
	authz := p.srv.Config().Authz
	for {
		as, _, err := p.st.RoleAssignmentList(ctx, store.RoleAssignmentListParams{ScopeKeys: []string{id.Key()}, Page: store.Page{Limit: 500}})
		if err != nil {
			return err
		}
		if len(as) == 0 {
			return nil
		}
		for _, a := range as {
			if _, err := authz.Delete(ctx, "system", a.ID); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
				return err
			}
		}
	}
}

func (p *Provider) handleList(w http.ResponseWriter, r *arm.Request) error {
	page, err := r.PageToken(100)
	if err != nil {
		return err
	}
	params := store.ResourceListParams{Type: TypeRegistry, SubscriptionID: r.PathValue("subscriptionId"),
		ResourceGroup: r.PathValue("resourceGroupName"), Page: page}
	if params.ResourceGroup != "" {
		if err := r.RequireResourceGroup(r.ID); err != nil {
			return err
		}
	}
	rs, next, err := r.Store().ResourceList(r.Context(), params)
	if err != nil {
		return err
	}
	out := make([]Registry, 0, len(rs))
	for _, x := range rs {
		s, err := decode(x)
		if err != nil {
			return err
		}
		out = append(out, s.Registry)
	}
	r.WriteList(w, out, next)
	return nil
}

func (p *Provider) handleListCredentials(w http.ResponseWriter, r *arm.Request) error {
	_, s, err := p.load(r)
	if err != nil {
		return err
	}
	if !s.Properties.AdminUserEnabled {
		return adminDisabled(r.ID)
	}
	arm.WriteJSON(w, http.StatusOK, "", credentialsOf(s))
	return nil
}

func (p *Provider) handleRegenerateCredential(w http.ResponseWriter, r *arm.Request) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := r.Decode(&in); err != nil {
		return err
	}
	idx := -1
	for i, n := range passwordNames {
		if strings.EqualFold(n, in.Name) {
			idx = i
		}
	}
	if idx < 0 {
		return arm.Invalid("InvalidPasswordName", "name", "The password name '%s' is not valid. It must be 'password' or 'password2'.", in.Name)
	}
	v, err := newPassword()
	if err != nil {
		return err
	}
	now := p.cfg.Now().UTC()
	updated, err := r.Store().ResourceUpdate(r.Context(), r.ID.Key(), func(res *store.Resource) error {
		cur, err := decode(*res)
		if err != nil {
			return err
		}
		if !cur.Properties.AdminUserEnabled || len(cur.Passwords) <= idx {
			return adminDisabled(r.ID)
		}
		cur.Passwords[idx] = password{Value: v, Created: now}
		res.Body, err = encode(cur)
		return err
	})
	p.clearCache()
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return r.ResourceNotFound(r.ID)
	}
	if err != nil {
		return err
	}
	s, err := decode(updated)
	if err != nil {
		return err
	}
	arm.WriteJSON(w, http.StatusOK, "", credentialsOf(s))
	return nil
}

// handleCheckName answers POST .../providers/Microsoft.ContainerRegistry/checkNameAvailability.
func (p *Provider) handleCheckName(w http.ResponseWriter, r *arm.Request) error {
	var in struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if err := r.Decode(&in); err != nil {
		return err
	}
	if !strings.EqualFold(in.Type, TypeRegistry) {
		return arm.Invalid("InvalidResourceType", "type", "The resource type '%s' is not valid; it must be '%s'.", in.Type, TypeRegistry)
	}
	out := map[string]any{"nameAvailable": true}
	if !nameRe.MatchString(in.Name) {
		out = map[string]any{"nameAvailable": false, "reason": "Invalid",
			"message": "Registry names may contain only alpha numeric characters and must be between 5 and 50 characters"}
	} else if _, err := p.find(r.Context(), in.Name); err == nil {
		out = map[string]any{"nameAvailable": false, "reason": "AlreadyExists", "message": "The registry " + in.Name + " is already in use."}
	} else if !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	arm.WriteJSON(w, http.StatusOK, "", out)
	return nil
}

// operation is one entry of the provider's operations list.
type operation struct {
	Name    string           `json:"name"`
	Display operationDisplay `json:"display"`
	Origin  string           `json:"origin,omitempty"`
}

type operationDisplay struct {
	Provider    string `json:"provider"`
	Resource    string `json:"resource"`
	Operation   string `json:"operation"`
	Description string `json:"description"`
}

var operations = func() []operation {
	op := func(name, resource, what, desc string) operation {
		return operation{Name: name, Display: operationDisplay{Provider: "Microsoft Container Registry", Resource: resource, Operation: what, Description: desc}}
	}
	return []operation{
		op(TypeRegistry+"/read", "Registry", "Get or list container registries", "Gets the properties of the specified container registry or lists all the container registries under the specified resource group or subscription."),
		op(TypeRegistry+"/write", "Registry", "Create or update container registry", "Creates or updates a container registry with the specified parameters."),
		op(TypeRegistry+"/delete", "Registry", "Delete container registry", "Deletes a container registry."),
		op(TypeRegistry+"/listCredentials/action", "Registry", "List registry credentials", "Lists the login credentials for the specified container registry."),
		op(TypeRegistry+"/regenerateCredential/action", "Registry", "Regenerate registry credential", "Regenerates one of the login credentials for the specified container registry."),
		op("Microsoft.ContainerRegistry/checkNameAvailability/read", "Registry Name", "Check registry name availability", "Checks whether the container registry name is available for use."),
		op(TypeRegistry+"/pull/read", "Registry", "Pull or Get images", "Pull or Get images from a container registry."),
		op(TypeRegistry+"/push/write", "Registry", "Push images", "Push or Write images to a container registry."),
		op(TypeRegistry+"/artifacts/delete", "Registry", "Delete artifact", "Delete artifact in a container registry."),
	}
}()

func (p *Provider) handleOperations(w http.ResponseWriter, r *arm.Request) error {
	arm.WriteJSON(w, http.StatusOK, "", map[string]any{"value": operations})
	return nil
}
