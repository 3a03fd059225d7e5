package batchprovider

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/arm"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// accountRequest is a BatchAccountCreateParameters / BatchAccountUpdateParameters body.
type accountRequest struct {
	Location   *string            `json:"location"`
	Tags       *map[string]string `json:"tags"`
	Identity   *accountIdentity   `json:"identity"`
	Properties *accountProps      `json:"properties"`
}

type accountIdentity struct {
	Type                   string                     `json:"type"`
	UserAssignedIdentities map[string]json.RawMessage `json:"userAssignedIdentities"`
}

type accountProps struct {
	AutoStorage                *autoStorage    `json:"autoStorage"`
	PoolAllocationMode         *string         `json:"poolAllocationMode"`
	PublicNetworkAccess        *string         `json:"publicNetworkAccess"`
	AllowedAuthenticationModes *[]string       `json:"allowedAuthenticationModes"`
	KeyVaultReference          json.RawMessage `json:"keyVaultReference"`
	NetworkProfile             json.RawMessage `json:"networkProfile"`
	Encryption                 json.RawMessage `json:"encryption"`
}

type autoStorage struct {
	StorageAccountID      string                       `json:"storageAccountId"`
	AuthenticationMode    string                       `json:"authenticationMode"`
	NodeIdentityReference *batchwire.IdentityReference `json:"nodeIdentityReference"`
}

var authModes = map[string]string{"sharedkey": "SharedKey", "aad": "AAD", "taskauthenticationtoken": "TaskAuthenticationToken"}

func canon(v string, allowed ...string) (string, bool) {
	for _, a := range allowed {
		if strings.EqualFold(a, v) {
			return a, true
		}
	}
	return v, false
}

// apply validates a request and writes it onto a (a new or stored account).
func (p *Provider) apply(r *arm.Request, a *cobalt.Account, req *accountRequest, creating bool) error {
	ctx := r.Context()
	if req.Tags != nil {
		a.Tags = *req.Tags
	}
	if pr := req.Properties; pr != nil {
		if pr.PoolAllocationMode != nil {
			m, ok := canon(*pr.PoolAllocationMode, "BatchService", "UserSubscription")
			if !ok {
				return arm.Invalid("InvalidParameter", "properties.poolAllocationMode", "The pool allocation mode '%s' is not valid; use BatchService.", *pr.PoolAllocationMode)
			}
			if m == "UserSubscription" {
				return arm.Invalid("InvalidParameter", "properties.poolAllocationMode", "The pool allocation mode 'UserSubscription' is not supported; use BatchService.")
			}
			if !creating && m != a.PoolAllocationMode {
				return arm.Invalid("InvalidParameter", "properties.poolAllocationMode", "The pool allocation mode of an existing account cannot be changed.")
			}
			a.PoolAllocationMode = m
		}
		if pr.PublicNetworkAccess != nil {
			v, ok := canon(*pr.PublicNetworkAccess, "Enabled", "Disabled", "SecuredByPerimeter")
			if !ok {
				return arm.Invalid("InvalidParameter", "properties.publicNetworkAccess", "The public network access value '%s' is not valid.", *pr.PublicNetworkAccess)
			}
			a.PublicNetworkAccess = v
		}
		if pr.AllowedAuthenticationModes != nil {
			var modes []string
			for i, m := range *pr.AllowedAuthenticationModes {
				c, ok := authModes[strings.ToLower(m)]
				if !ok {
					return arm.Invalid("InvalidParameter", "properties.allowedAuthenticationModes["+itoa(i)+"]", "The authentication mode '%s' is not valid; use SharedKey, AAD or TaskAuthenticationToken.", m)
				}
				modes = append(modes, c)
			}
			a.AllowedAuthenticationModes = modes
		}
		for k, v := range map[string]json.RawMessage{"keyVaultReference": pr.KeyVaultReference, "networkProfile": pr.NetworkProfile, "encryption": pr.Encryption} {
			if len(v) > 0 && string(v) != "null" {
				if a.Extra == nil {
					a.Extra = map[string][]byte{}
				}
				a.Extra[k] = v
			}
		}
	}
	if req.Identity != nil {
		if err := p.applyIdentity(r, a, req.Identity); err != nil {
			return err
		}
	}
	if pr := req.Properties; pr != nil && pr.AutoStorage != nil {
		as := pr.AutoStorage
		if as.StorageAccountID == "" {
			return arm.Invalid("MissingRequiredProperty", "properties.autoStorage.storageAccountId", "The property 'properties.autoStorage.storageAccountId' is required.")
		}
		sid, err := cobalt.ParseResourceID(as.StorageAccountID)
		if err != nil || !strings.EqualFold(sid.Type(), "Microsoft.Storage/storageAccounts") {
			return arm.Invalid("InvalidParameter", "properties.autoStorage.storageAccountId", "'%s' is not the resource ID of a storage account.", as.StorageAccountID)
		}
		// Linking gives the Batch account the storage account's keys, so
		// the caller must be allowed to read them, as on Azure.
		if err := r.CheckLinked("Microsoft.Storage/storageAccounts/listkeys/action", sid); err != nil {
			return err
		}
		if _, err := p.st.ResourceGet(ctx, sid.Key()); err != nil {
			if cobalt.IsCode(err, cobalt.ENotFound) {
				return arm.Invalid("InvalidParameter", "properties.autoStorage.storageAccountId", "The storage account '%s' does not exist.", as.StorageAccountID)
			}
			return err
		}
		mode := "StorageKeys"
		if as.AuthenticationMode != "" {
			m, ok := canon(as.AuthenticationMode, "StorageKeys", "BatchAccountManagedIdentity")
			if !ok {
				return arm.Invalid("InvalidParameter", "properties.autoStorage.authenticationMode", "The auto-storage authentication mode '%s' is not valid; use StorageKeys or BatchAccountManagedIdentity.", as.AuthenticationMode)
			}
			mode = m
		}
		if mode == "BatchAccountManagedIdentity" && (a.Identity == nil || a.Identity.Type == "None") {
			return arm.Invalid("InvalidParameter", "properties.autoStorage.authenticationMode", "BatchAccountManagedIdentity needs the account to have an identity.")
		}
		a.AutoStorage = &cobalt.AutoStorage{StorageAccountID: sid.String(), AuthenticationMode: mode, LastKeySync: p.cfg.Now().UTC()}
		if as.NodeIdentityReference != nil {
			a.AutoStorage.NodeIdentityReference = &cobalt.IdentityReference{ResourceID: as.NodeIdentityReference.ResourceID}
		}
	}
	return nil
}

func (p *Provider) applyIdentity(r *arm.Request, a *cobalt.Account, in *accountIdentity) error {
	t, ok := canon(in.Type, "SystemAssigned", "UserAssigned", "None")
	if !ok {
		return arm.Invalid("InvalidParameter", "identity.type", "The identity type '%s' is not valid for a Batch account; use SystemAssigned, UserAssigned or None.", in.Type)
	}
	old := a.Identity
	switch t {
	case "None":
		if len(in.UserAssignedIdentities) > 0 {
			return arm.Invalid("InvalidParameter", "identity.userAssignedIdentities", "userAssignedIdentities must be empty when the identity type is 'None'.")
		}
		a.Identity = &cobalt.AccountIdentity{Type: "None"}
	case "SystemAssigned":
		if len(in.UserAssignedIdentities) > 0 {
			return arm.Invalid("InvalidParameter", "identity.userAssignedIdentities", "userAssignedIdentities must be empty when the identity type is 'SystemAssigned'.")
		}
		if old != nil && old.Type == "SystemAssigned" {
			return nil
		}
		a.Identity = &cobalt.AccountIdentity{Type: "SystemAssigned", TenantID: a.TenantID}
		if p.cfg.Directory != nil {
			pr, err := p.cfg.Directory.CreateManagedIdentityPrincipal(r.Context(), a.TenantID, a.Name, a.ID)
			if err != nil {
				return err
			}
			a.Identity.PrincipalID = pr.ObjectID
		}
	case "UserAssigned":
		if len(in.UserAssignedIdentities) == 0 {
			return arm.Invalid("MissingIdentityIds", "identity.userAssignedIdentities", "The identity ids must not be null or empty for 'UserAssigned' identity type.")
		}
		ids := &cobalt.AccountIdentity{Type: "UserAssigned"}
		for k := range in.UserAssignedIdentities {
			pid := cobalt.PoolIdentity{Type: "UserAssigned", Identities: []cobalt.UserAssignedIdentity{{ResourceID: k}}}
			if err := p.cfg.Pools.ResolveIdentities(r.Context(), nil, &pid); err != nil {
				return err
			}
			rid, _ := cobalt.ParseResourceID(pid.Identities[0].ResourceID)
			if err := r.CheckLinked("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", rid); err != nil {
				return err
			}
			ids.UserAssigned = append(ids.UserAssigned, pid.Identities[0])
		}
		sort.Slice(ids.UserAssigned, func(i, j int) bool { return ids.UserAssigned[i].ResourceID < ids.UserAssigned[j].ResourceID })
		a.Identity = ids
	}
	if old != nil && old.Type == "SystemAssigned" && old.PrincipalID != "" && p.cfg.Directory != nil {
		if err := p.cfg.Directory.DeletePrincipal(r.Context(), old.PrincipalID); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
			return err
		}
	}
	return nil
}

func (p *Provider) handlePutAccount(w http.ResponseWriter, r *arm.Request) error {
	name := r.PathValue("accountName")
	if !accountNameRe.MatchString(name) {
		return arm.Invalid("AccountNameInvalid", "accountName", "Account name '%s' is invalid: it must be 3 to 24 characters of letters and digits.", name)
	}
	if err := r.RequireResourceGroup(r.ID); err != nil {
		return err
	}
	var req accountRequest
	if err := r.Decode(&req); err != nil {
		return err
	}
	existing, version, err := p.loadAccount(r.Context(), r.ID)
	if err == nil {
		// PUT on an existing account updates it, as the update API does.
		if err := arm.CheckPreconditions(r.Request, arm.ETag(version)); err != nil {
			return err
		}
		return p.update(w, r, existing, version, &req)
	}
	if !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	if err := arm.CheckPreconditions(r.Request, ""); err != nil {
		return err
	}
	if req.Location == nil || *req.Location == "" {
		return arm.Invalid("LocationRequired", "location", "The location property is required for this definition.")
	}
	if other, err := p.cfg.Pools.AccountFind(r.Context(), name); err != nil {
		return err
	} else if other != nil {
		return cobalt.Errorf(cobalt.EConflict, "The specified account name '%s' is already in use.", name).WithReason("AccountNameAlreadyTaken").WithTarget("accountName")
	}
	cfg := p.srv.Config()
	a := &cobalt.Account{ID: r.ID.String(), Name: name, Location: *req.Location, TenantID: cfg.TenantID, SubscriptionID: r.ID.SubscriptionID,
		ResourceGroup: r.ID.ResourceGroup, Keys: [2]string{newKey(), newKey()}, PoolAllocationMode: "BatchService", PublicNetworkAccess: "Enabled",
		AllowedAuthenticationModes: []string{"SharedKey", "AAD", "TaskAuthenticationToken"}, ProvisioningState: "Creating", CreatedAt: p.cfg.Now().UTC(),
		Identity: &cobalt.AccountIdentity{Type: "None"}}
	if err := p.apply(r, a, &req, true); err != nil {
		return err
	}
	if _, _, err := p.cfg.Pools.AccountCreate(r.Context(), a); err != nil {
		if cobalt.IsCode(err, cobalt.EConflict) {
			return cobalt.Errorf(cobalt.EConflict, "Another operation on the account '%s' is in progress.", name).WithReason("Conflict")
		}
		return err
	}
	id := r.ID
	return r.Accepted(w, arm.LRO{RetryAfter: 1, Kind: lroAccountCreate}, func(ctx context.Context) (any, error) {
		return p.finishCreate(ctx, id)
	})
}

func (p *Provider) fail(ctx context.Context, id string) {
	_, _, _ = p.cfg.Pools.AccountUpdate(ctx, id, func(a *cobalt.Account, _ int64) error {
		a.ProvisioningState = "Failed"
		return nil
	})
}

func (p *Provider) update(w http.ResponseWriter, r *arm.Request, a *cobalt.Account, version int64, req *accountRequest) error {
	if req.Location != nil && *req.Location != "" && !strings.EqualFold(*req.Location, a.Location) {
		return arm.Invalid("LocationNotAvailableForResourceType", "location", "The location of an existing Batch account cannot be changed.")
	}
	if err := p.apply(r, a, req, false); err != nil {
		return err
	}
	out, _, err := p.cfg.Pools.AccountUpdate(r.Context(), r.ID.String(), func(cur *cobalt.Account, v int64) error {
		if v != version {
			return cobalt.Errorf(cobalt.EConflict, "The account was changed by another request; retry.").WithReason("Conflict")
		}
		*cur = *a
		return nil
	})
	if err != nil {
		return err
	}
	v, err := renderAccount(out)
	if err != nil {
		return err
	}
	arm.WriteJSON(w, http.StatusOK, "", v)
	return nil
}

func (p *Provider) handlePatchAccount(w http.ResponseWriter, r *arm.Request) error {
	var req accountRequest
	if err := r.Decode(&req); err != nil {
		return err
	}
	a, version, err := p.loadAccount(r.Context(), r.ID)
	if err != nil {
		return err
	}
	return p.update(w, r, a, version, &req)
}

func (p *Provider) handleGetAccount(w http.ResponseWriter, r *arm.Request) error {
	a, _, err := p.loadAccount(r.Context(), r.ID)
	if err != nil {
		return err
	}
	v, err := renderAccount(a)
	if err != nil {
		return err
	}
	arm.WriteJSON(w, http.StatusOK, "", v)
	return nil
}

func (p *Provider) handleListAccounts(w http.ResponseWriter, r *arm.Request) error {
	page, err := r.PageToken(100)
	if err != nil {
		return err
	}
	params := batch.AccountListParams{SubscriptionID: r.PathValue("subscriptionId"), Page: page}
	if rg := r.PathValue("resourceGroupName"); rg != "" {
		params.ResourceGroup = rg
		if err := r.RequireResourceGroup(cobalt.ResourceID{SubscriptionID: r.PathValue("subscriptionId"), ResourceGroup: rg}); err != nil {
			return err
		}
	}
	as, next, err := p.cfg.Pools.AccountList(r.Context(), params)
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(as))
	for _, a := range as {
		v, err := renderAccount(a)
		if err != nil {
			return err
		}
		items = append(items, v)
	}
	r.WriteList(w, items, next)
	return nil
}

func (p *Provider) handleDeleteAccount(w http.ResponseWriter, r *arm.Request) error {
	a, _, err := p.loadAccount(r.Context(), r.ID)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	_, _, _ = p.cfg.Pools.AccountUpdate(r.Context(), a.ID, func(cur *cobalt.Account, _ int64) error {
		cur.ProvisioningState = "Deleting"
		return nil
	})
	return r.Accepted(w, arm.LRO{RetryAfter: 1, Kind: lroAccountDelete}, func(ctx context.Context) (any, error) {
		return p.finishDelete(ctx, r.ID)
	})
}

// deleteAccount removes what an account owns outside the generic store: its
// pools and nodes, its endpoint, its system identity's principal.
func (p *Provider) deleteAccount(ctx context.Context, a *cobalt.Account) error {
	if err := p.cfg.Pools.DeleteAccountPools(ctx, a.Key()); err != nil {
		return err
	}
	if p.cfg.Endpoints != nil && a.Endpoint != "" {
		if err := p.cfg.Endpoints.ReleaseAccountEndpoint(ctx, a.Name); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
			return err
		}
	}
	if a.Identity != nil && a.Identity.PrincipalID != "" && p.cfg.Directory != nil {
		if err := p.cfg.Directory.DeletePrincipal(ctx, a.Identity.PrincipalID); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
			return err
		}
	}
	p.log.Info("batch account deleted", logkey.Account, a.Name)
	return nil
}

// cascade deletes the accounts (with their pools) below a scope being deleted.
func (p *Provider) cascade(ctx context.Context, scope cobalt.ResourceID) error {
	var targets []*cobalt.Account
	if strings.EqualFold(scope.Type(), TypeAccount) {
		a, _, err := p.cfg.Pools.AccountRead(ctx, scope.String())
		if err == nil {
			targets = append(targets, a)
		} else if !cobalt.IsCode(err, cobalt.ENotFound) {
			return err
		}
	}
	params := batch.AccountListParams{WithinKey: scope.Key(), Page: store.Page{Limit: 500}}
	for {
		as, next, err := p.cfg.Pools.AccountList(ctx, params)
		if err != nil {
			return err
		}
		targets = append(targets, as...)
		if next == "" {
			break
		}
		params.Page.Token = next
	}
	for _, a := range targets {
		if err := p.deleteAccount(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

type keysResponse struct {
	AccountName string `json:"accountName"`
	Primary     string `json:"primary"`
	Secondary   string `json:"secondary"`
}

func errSharedKeyDisabled() error {
	return cobalt.Errorf(cobalt.EInvalid, "The account does not allow shared key authentication (allowedAuthenticationModes does not contain SharedKey).").
		WithReason("SharedKeyAuthenticationDisabled")
}

func (p *Provider) handleListKeys(w http.ResponseWriter, r *arm.Request) error {
	a, _, err := p.loadAccount(r.Context(), accountOf(r.ID))
	if err != nil {
		return err
	}
	if !a.SharedKeyAllowed() {
		return errSharedKeyDisabled()
	}
	arm.WriteJSON(w, http.StatusOK, "", keysResponse{AccountName: a.Name, Primary: a.Keys[0], Secondary: a.Keys[1]})
	return nil
}

func (p *Provider) handleRegenerateKeys(w http.ResponseWriter, r *arm.Request) error {
	var req struct {
		KeyName string `json:"keyName"`
	}
	if err := r.Decode(&req); err != nil {
		return err
	}
	idx := -1
	switch strings.ToLower(req.KeyName) {
	case "primary":
		idx = 0
	case "secondary":
		idx = 1
	default:
		return arm.Invalid("InvalidParameter", "keyName", "The key name '%s' is not valid; use Primary or Secondary.", req.KeyName)
	}
	id := accountOf(r.ID)
	a, _, err := p.loadAccount(r.Context(), id)
	if err != nil {
		return err
	}
	if !a.SharedKeyAllowed() {
		return errSharedKeyDisabled()
	}
	a, _, err = p.cfg.Pools.AccountUpdate(r.Context(), a.ID, func(cur *cobalt.Account, _ int64) error {
		cur.Keys[idx] = newKey()
		return nil
	})
	if err != nil {
		return err
	}
	arm.WriteJSON(w, http.StatusOK, "", keysResponse{AccountName: a.Name, Primary: a.Keys[0], Secondary: a.Keys[1]})
	return nil
}

func (p *Provider) handleSyncAutoStorageKeys(w http.ResponseWriter, r *arm.Request) error {
	if _, _, err := p.loadAccount(r.Context(), accountOf(r.ID)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// renderAccount returns an account's ARM JSON under its own ID.
func renderAccount(a *cobalt.Account) (map[string]any, error) {
	id, err := cobalt.ParseResourceID(a.ID)
	if err != nil {
		return nil, err
	}
	return RenderAccount(a, id), nil
}

// RenderAccount returns an account's management-plane JSON.
func RenderAccount(a *cobalt.Account, id cobalt.ResourceID) map[string]any {
	props := map[string]any{
		"accountEndpoint":                       a.Endpoint,
		"nodeManagementEndpoint":                a.Endpoint,
		"provisioningState":                     a.ProvisioningState,
		"poolAllocationMode":                    a.PoolAllocationMode,
		"publicNetworkAccess":                   a.PublicNetworkAccess,
		"privateEndpointConnections":            []any{},
		"encryption":                            map[string]any{"keySource": "Microsoft.Batch"},
		"dedicatedCoreQuota":                    500,
		"lowPriorityCoreQuota":                  500,
		"dedicatedCoreQuotaPerVMFamily":         []any{},
		"dedicatedCoreQuotaPerVMFamilyEnforced": false,
		"poolQuota":                             100,
		"activeJobAndJobScheduleQuota":          300,
		"allowedAuthenticationModes":            a.AllowedAuthenticationModes,
	}
	for k, v := range a.Extra {
		props[k] = json.RawMessage(v)
	}
	if as := a.AutoStorage; as != nil {
		m := map[string]any{"storageAccountId": as.StorageAccountID, "authenticationMode": as.AuthenticationMode, "lastKeySync": batch.FormatTime(as.LastKeySync)}
		if as.NodeIdentityReference != nil {
			m["nodeIdentityReference"] = batchwire.IdentityRef(as.NodeIdentityReference)
		}
		props["autoStorage"] = m
	}
	out := map[string]any{"id": id.String(), "name": id.Name(), "type": TypeAccount, "location": a.Location, "properties": props}
	if a.Tags != nil {
		out["tags"] = a.Tags
	}
	if idn := a.Identity; idn != nil {
		m := map[string]any{"type": idn.Type}
		if idn.Type == "SystemAssigned" {
			m["principalId"], m["tenantId"] = idn.PrincipalID, idn.TenantID
		}
		if len(idn.UserAssigned) > 0 {
			u := map[string]any{}
			for _, i := range idn.UserAssigned {
				u[i.ResourceID] = map[string]any{"principalId": i.PrincipalID, "clientId": i.ClientID}
			}
			m["userAssignedIdentities"] = u
		}
		out["identity"] = m
	}
	return out
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
