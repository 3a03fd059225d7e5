package arm

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// typeStorageAccount is the storage account resource type.
const typeStorageAccount = "Microsoft.Storage/storageAccounts"

// storageVersions are stable Microsoft.Storage api-versions.
var storageVersions = []string{
	"2019-06-01", "2021-01-01", "2021-02-01", "2021-04-01", "2021-06-01", "2021-08-01", "2021-09-01", "2022-05-01",
	"2022-09-01", "2023-01-01", "2023-04-01", "2023-05-01", "2024-01-01", "2025-01-01", "2025-06-01",
}

var storageNamePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]{3,24}$`) })

var storageSkus = map[string]string{ // sku name (lower) -> canonical name
	"standard_lrs": "Standard_LRS", "standard_grs": "Standard_GRS", "standard_ragrs": "Standard_RAGRS",
	"standard_zrs": "Standard_ZRS", "premium_lrs": "Premium_LRS", "premium_zrs": "Premium_ZRS",
	"standard_gzrs": "Standard_GZRS", "standard_ragzrs": "Standard_RAGZRS",
}

var storageKinds = []string{"Storage", "StorageV2", "BlobStorage", "FileStorage", "BlockBlobStorage"}

// StorageSku is a storage account's SKU.
type StorageSku struct {
	Name string `json:"name"`
	Tier string `json:"tier"`
}

// StorageAccountProperties are the properties Cobalt keeps and returns.
type StorageAccountProperties struct {
	ProvisioningState        string            `json:"provisioningState"`
	PrimaryEndpoints         map[string]string `json:"primaryEndpoints"`
	PrimaryLocation          string            `json:"primaryLocation"`
	StatusOfPrimary          string            `json:"statusOfPrimary"`
	CreationTime             time.Time         `json:"creationTime"`
	AccessTier               string            `json:"accessTier,omitempty"`
	SupportsHTTPSTrafficOnly bool              `json:"supportsHttpsTrafficOnly"`
	AllowBlobPublicAccess    bool              `json:"allowBlobPublicAccess"`
	AllowSharedKeyAccess     *bool             `json:"allowSharedKeyAccess,omitempty"`
	MinimumTLSVersion        string            `json:"minimumTlsVersion"`
	IsHnsEnabled             bool              `json:"isHnsEnabled"`
	KeyCreationTime          map[string]string `json:"keyCreationTime"`
}

// StorageAccount is the JSON of a storage account.
type StorageAccount struct {
	ID         string                   `json:"id"`
	Name       string                   `json:"name"`
	Type       string                   `json:"type"`
	Location   string                   `json:"location"`
	Tags       map[string]string        `json:"tags,omitempty"`
	Sku        StorageSku               `json:"sku"`
	Kind       string                   `json:"kind"`
	Properties StorageAccountProperties `json:"properties"`
}

// storedAccount is what the store keeps: the account and its keys, which
// only listKeys returns.
type storedAccount struct {
	StorageAccount
	Keys [2]storageKey `json:"keys"`
}

type storageKey struct {
	Value   string    `json:"value"`
	Created time.Time `json:"created"`
}

// StorageKey is one key in a listKeys response.
type StorageKey struct {
	KeyName      string    `json:"keyName"`
	Value        string    `json:"value"`
	Permissions  string    `json:"permissions"`
	CreationTime time.Time `json:"creationTime"`
}

type storageProvider struct{ s *Server }

func (p *storageProvider) Register(g *Registrar) error {
	p.s = g.Server()
	g.APIVersions(typeStorageAccount, storageVersions...)
	const base = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Storage/storageAccounts"
	const one = base + "/{accountName}"
	g.Handle(Route{Pattern: "PUT " + one, Type: typeStorageAccount, Action: typeStorageAccount + "/write", Handler: p.handlePut})
	g.Handle(Route{Pattern: "PATCH " + one, Type: typeStorageAccount, Action: typeStorageAccount + "/write", Handler: p.handlePatch})
	g.Handle(Route{Pattern: "GET " + one, Type: typeStorageAccount, Action: typeStorageAccount + "/read", Handler: p.handleGet})
	g.Handle(Route{Pattern: "DELETE " + one, Type: typeStorageAccount, Action: typeStorageAccount + "/delete", Handler: p.handleDelete})
	g.Handle(Route{Pattern: "POST " + one + "/listKeys", Type: typeStorageAccount, Action: typeStorageAccount + "/listkeys/action", Handler: p.handleListKeys})
	g.Handle(Route{Pattern: "POST " + one + "/regenerateKey", Type: typeStorageAccount, Action: typeStorageAccount + "/regeneratekey/action", Handler: p.handleRegenerateKey})
	g.Handle(Route{Pattern: "GET " + base, Type: typeStorageAccount, Action: typeStorageAccount + "/read", Handler: p.handleList})
	g.Handle(Route{Pattern: "GET /subscriptions/{subscriptionId}/providers/Microsoft.Storage/storageAccounts",
		Type: typeStorageAccount, Action: typeStorageAccount + "/read", Handler: p.handleList})
	g.Handle(Route{Pattern: "POST /subscriptions/{subscriptionId}/providers/Microsoft.Storage/checkNameAvailability",
		Type: typeStorageAccount, Action: "Microsoft.Storage/checknameavailability/read", Handler: p.handleCheckNameAvailability})
	return nil
}

func newStorageKey() (string, error) {
	var b [64]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b[:]), nil
}

func decodeAccount(res store.Resource) (storedAccount, error) {
	var a storedAccount
	if err := json.Unmarshal(res.Body, &a); err != nil {
		return a, err
	}
	id, err := cobalt.ParseResourceID(res.ID)
	if err != nil {
		return a, err
	}
	a.ID, a.Name, a.Type = id.String(), id.Name(), typeStorageAccount
	return a, nil
}

func skuTier(name string) string {
	if strings.HasPrefix(name, "Premium") {
		return "Premium"
	}
	return "Standard"
}

func validateStorageName(name string) error {
	if !storageNamePattern().MatchString(name) {
		return Invalid("AccountNameInvalid", "accountName",
			"%s is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.", name)
	}
	return nil
}

// findAccount returns the stored account with the given name in any
// resource group (names are unique across the installation, as on Azure:
// the store keeps them in a unique index).
func (s *Server) findAccount(ctx context.Context, name string) (store.Resource, error) {
	rs, _, err := s.cfg.Store.ResourceList(ctx, store.ResourceListParams{Type: typeStorageAccount, UniqueName: strings.ToLower(name), Page: store.Page{Limit: 1}})
	if err != nil {
		return store.Resource{}, err
	}
	if len(rs) == 0 {
		return store.Resource{}, cobalt.Errorf(cobalt.ENotFound, "The storage account '%s' was not found.", name).WithReason("StorageAccountNotFound")
	}
	return rs[0], nil
}

// nameTaken is ARM's answer to a storage account name used elsewhere.
func nameTaken(name string) error {
	return cobalt.Errorf(cobalt.EConflict, "The storage account named %s is already taken.", name).WithReason("StorageAccountAlreadyTaken")
}

func (p *storageProvider) handlePut(w http.ResponseWriter, r *Request) error {
	name := r.PathValue("accountName")
	if err := validateStorageName(name); err != nil {
		return err
	}
	var in struct {
		Sku *struct {
			Name string `json:"name"`
		} `json:"sku"`
		Kind       string            `json:"kind"`
		Location   string            `json:"location"`
		Tags       map[string]string `json:"tags"`
		Properties struct {
			AccessTier            string `json:"accessTier"`
			AllowBlobPublicAccess *bool  `json:"allowBlobPublicAccess"`
			AllowSharedKeyAccess  *bool  `json:"allowSharedKeyAccess"`
			MinimumTLSVersion     string `json:"minimumTlsVersion"`
			IsHnsEnabled          bool   `json:"isHnsEnabled"`
		} `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return err
	}
	if in.Sku == nil || in.Sku.Name == "" {
		return Invalid("MissingRequiredProperty", "sku", "The property 'sku' is required.")
	}
	sku, ok := storageSkus[strings.ToLower(in.Sku.Name)]
	if !ok {
		return Invalid("InvalidSkuName", "sku.name", "The SKU name '%s' is not valid.", in.Sku.Name)
	}
	kind := ""
	for _, k := range storageKinds {
		if strings.EqualFold(k, in.Kind) {
			kind = k
		}
	}
	if kind == "" {
		return Invalid("InvalidKind", "kind", "The kind '%s' is not valid. It must be one of %s.", in.Kind, strings.Join(storageKinds, ", "))
	}
	if strings.TrimSpace(in.Location) == "" {
		return Invalid("LocationRequired", "location", "The location property is required for this definition.")
	}
	if err := validateTags(in.Tags); err != nil {
		return err
	}
	if err := r.RequireResourceGroup(r.ID); err != nil {
		return err
	}
	if other, err := p.s.findAccount(r.Context(), name); err == nil && other.Key != r.ID.Key() {
		return nameTaken(name)
	} else if err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	apply := func(a *storedAccount) {
		a.Tags, a.Sku, a.Kind = in.Tags, StorageSku{Name: sku, Tier: skuTier(sku)}, kind
		if in.Properties.AccessTier != "" {
			a.Properties.AccessTier = in.Properties.AccessTier
		}
		if in.Properties.AllowBlobPublicAccess != nil {
			a.Properties.AllowBlobPublicAccess = *in.Properties.AllowBlobPublicAccess
		}
		if in.Properties.AllowSharedKeyAccess != nil {
			a.Properties.AllowSharedKeyAccess = in.Properties.AllowSharedKeyAccess
		}
		if in.Properties.MinimumTLSVersion != "" {
			a.Properties.MinimumTLSVersion = in.Properties.MinimumTLSVersion
		}
	}
	existing, err := r.Store().ResourceGet(r.Context(), r.ID.Key())
	if err == nil {
		if err := CheckPreconditions(r.Request, ETag(existing.Version)); err != nil {
			return err
		}
		updated, err := r.Store().ResourceUpdate(r.Context(), r.ID.Key(), func(res *store.Resource) error {
			a, err := decodeAccount(*res)
			if err != nil {
				return err
			}
			apply(&a)
			res.Body, err = json.Marshal(a)
			return err
		})
		// allowSharedKeyAccess may have changed: the blob service must see it at once.
		p.s.accounts.clear()
		if err != nil {
			return err
		}
		a, err := decodeAccount(updated)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, "", a.StorageAccount)
		return nil
	} else if !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	if err := CheckPreconditions(r.Request, ""); err != nil {
		return err
	}
	now := p.s.cfg.Now().UTC()
	loc := normalizeLocation(in.Location)
	a := storedAccount{StorageAccount: StorageAccount{Location: loc, Properties: StorageAccountProperties{
		ProvisioningState: "Succeeded", PrimaryLocation: loc, StatusOfPrimary: "available", CreationTime: now,
		AccessTier: "Hot", SupportsHTTPSTrafficOnly: true, MinimumTLSVersion: "TLS1_2", IsHnsEnabled: in.Properties.IsHnsEnabled,
		PrimaryEndpoints: map[string]string{"blob": strings.TrimSuffix(p.s.cfg.BlobEndpoint, "/") + "/" + name + "/"},
		KeyCreationTime:  map[string]string{"key1": now.Format(time.RFC3339Nano), "key2": now.Format(time.RFC3339Nano)},
	}}}
	apply(&a)
	for i := range a.Keys {
		k, err := newStorageKey()
		if err != nil {
			return err
		}
		a.Keys[i] = storageKey{Value: k, Created: now}
	}
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	res := NewResource(r.ID, body)
	res.UniqueName = strings.ToLower(name)
	created, err := r.Store().ResourceCreate(r.Context(), res)
	if cobalt.IsCode(err, cobalt.EConflict) {
		// A concurrent request took the name, here or in another resource group.
		if other, ferr := p.s.findAccount(r.Context(), name); ferr == nil && other.Key != r.ID.Key() {
			return nameTaken(name)
		}
		return cobalt.Errorf(cobalt.EConflict, "The storage account %s is being created by another request; retry.", name).WithReason("Conflict")
	}
	if err != nil {
		return err
	}
	out, err := decodeAccount(created)
	if err != nil {
		return err
	}
	// The spec allows 200 (finished) or 202 (accepted); creation here is synchronous.
	WriteJSON(w, http.StatusOK, "", out.StorageAccount)
	return nil
}

func (p *storageProvider) handlePatch(w http.ResponseWriter, r *Request) error {
	updated, err := patchTags(r, decodeAccount, func(a *storedAccount, tags map[string]string) { a.Tags = tags })
	if err != nil {
		return err
	}
	a, err := decodeAccount(updated)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, "", a.StorageAccount)
	return nil
}

func (p *storageProvider) load(r *Request) (store.Resource, storedAccount, error) {
	res, err := r.Store().ResourceGet(r.Context(), r.ID.Key())
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return res, storedAccount{}, r.ResourceNotFound(r.ID)
	}
	if err != nil {
		return res, storedAccount{}, err
	}
	a, err := decodeAccount(res)
	return res, a, err
}

func (p *storageProvider) handleGet(w http.ResponseWriter, r *Request) error {
	_, a, err := p.load(r)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, "", a.StorageAccount)
	return nil
}

func (p *storageProvider) handleDelete(w http.ResponseWriter, r *Request) error {
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
	if err := p.s.DeleteScope(r.Context(), r.ID); err != nil {
		return err
	}
	if err := p.s.deleteStored(r.Context(), res); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func keysOf(a storedAccount) map[string][]StorageKey {
	out := make([]StorageKey, 2)
	for i, k := range a.Keys {
		out[i] = StorageKey{KeyName: "key" + string(rune('1'+i)), Value: k.Value, Permissions: "FULL", CreationTime: k.Created}
	}
	return map[string][]StorageKey{"keys": out}
}

func (p *storageProvider) handleListKeys(w http.ResponseWriter, r *Request) error {
	_, a, err := p.load(r)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, "", keysOf(a))
	return nil
}

func (p *storageProvider) handleRegenerateKey(w http.ResponseWriter, r *Request) error {
	var in struct {
		KeyName string `json:"keyName"`
	}
	if err := r.Decode(&in); err != nil {
		return err
	}
	idx := -1
	switch strings.ToLower(in.KeyName) {
	case "key1":
		idx = 0
	case "key2":
		idx = 1
	default:
		return Invalid("InvalidValuesForRequestParameters", "keyName", "The key name '%s' is not valid. It must be 'key1' or 'key2'.", in.KeyName)
	}
	k, err := newStorageKey()
	if err != nil {
		return err
	}
	now := p.s.cfg.Now().UTC()
	updated, err := r.Store().ResourceUpdate(r.Context(), r.ID.Key(), func(res *store.Resource) error {
		a, err := decodeAccount(*res)
		if err != nil {
			return err
		}
		a.Keys[idx] = storageKey{Value: k, Created: now}
		a.Properties.KeyCreationTime["key"+string(rune('1'+idx))] = now.Format(time.RFC3339Nano)
		res.Body, err = json.Marshal(a)
		return err
	})
	p.s.accounts.clear()
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return r.ResourceNotFound(r.ID)
	}
	if err != nil {
		return err
	}
	a, err := decodeAccount(updated)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, "", keysOf(a))
	return nil
}

func (p *storageProvider) handleList(w http.ResponseWriter, r *Request) error {
	page, err := r.PageToken(100)
	if err != nil {
		return err
	}
	params := store.ResourceListParams{Type: typeStorageAccount, SubscriptionID: r.PathValue("subscriptionId"),
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
	out := make([]StorageAccount, 0, len(res))
	for _, x := range res {
		a, err := decodeAccount(x)
		if err != nil {
			return err
		}
		out = append(out, a.StorageAccount)
	}
	r.WriteList(w, out, next)
	return nil
}

// accountCache remembers found storage accounts for the blob service's
// per-request lookups. Key regeneration and deletion through this front door
// clear it at once; other replicas' changes are seen within accountCacheTTL.
type accountCache struct {
	mu      sync.Mutex
	entries map[string]accountEntry
}

type accountEntry struct {
	info cobalt.StorageAccount
	at   time.Time
}

const accountCacheTTL = 2 * time.Second

func (c *accountCache) clear() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}

// LookupStorageAccount returns the storage account with the given name, or ENotFound.
func (s *Server) LookupStorageAccount(ctx context.Context, name string) (cobalt.StorageAccount, error) {
	name = strings.ToLower(name)
	now := s.cfg.Now()
	s.accounts.mu.Lock()
	e, ok := s.accounts.entries[name]
	s.accounts.mu.Unlock()
	if ok && now.Sub(e.at) < accountCacheTTL {
		return e.info, nil
	}
	info, err := s.lookupStorageAccount(ctx, name)
	if err != nil {
		return info, err
	}
	s.accounts.mu.Lock()
	if len(s.accounts.entries) > 10000 {
		clear(s.accounts.entries)
	}
	s.accounts.entries[name] = accountEntry{info: info, at: now}
	s.accounts.mu.Unlock()
	return info, nil
}

func (s *Server) lookupStorageAccount(ctx context.Context, name string) (cobalt.StorageAccount, error) {
	res, err := s.findAccount(ctx, name)
	if err != nil {
		return cobalt.StorageAccount{}, err
	}
	a, err := decodeAccount(res)
	if err != nil {
		return cobalt.StorageAccount{}, err
	}
	id, err := cobalt.ParseResourceID(res.ID)
	if err != nil {
		return cobalt.StorageAccount{}, err
	}
	return cobalt.StorageAccount{
		ID: id, Keys: [2]string{a.Keys[0].Value, a.Keys[1].Value},
		SharedKeyAccess: a.Properties.AllowSharedKeyAccess == nil || *a.Properties.AllowSharedKeyAccess,
	}, nil
}

func builtinProviders() []Provider {
	return []Provider{&resourcesProvider{}, &identityProvider{}, &federatedProvider{}, msiOperationsProvider{}, &authorizationProvider{}, &storageProvider{}, &registrationProvider{}}
}

// handleCheckNameAvailability answers POST .../providers/Microsoft.Storage/checkNameAvailability.
func (p *storageProvider) handleCheckNameAvailability(w http.ResponseWriter, r *Request) error {
	var in struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if err := r.Decode(&in); err != nil {
		return err
	}
	if in.Type != "" && !strings.EqualFold(in.Type, typeStorageAccount) {
		return Invalid("InvalidResourceType", "type", "The resource type '%s' is not valid; it must be '%s'.", in.Type, typeStorageAccount)
	}
	out := map[string]any{"nameAvailable": true}
	if err := validateStorageName(in.Name); err != nil {
		out = map[string]any{"nameAvailable": false, "reason": "AccountNameInvalid", "message": cobalt.ErrorMessage(err)}
	} else if _, err := p.s.findAccount(r.Context(), in.Name); err == nil {
		out = map[string]any{"nameAvailable": false, "reason": "AlreadyExists",
			"message": "The storage account named " + in.Name + " is already taken."}
	} else if !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	WriteJSON(w, http.StatusOK, "", out)
	return nil
}
