package batchprovider

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/arm"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Resource types.
const (
	TypeAccount = "Microsoft.Batch/batchAccounts"
	TypePool    = "Microsoft.Batch/batchAccounts/pools"
)

// APIVersions are the Microsoft.Batch api-versions accepted: what
// @azure/arm-batch 9.1.0 sends (2023-11-01) and the later stable versions.
var APIVersions = []string{"2022-10-01", "2023-05-01", "2023-11-01", "2024-02-01", "2024-07-01", "2025-06-01", "2026-08-01"}

// EndpointAllocator gives each Batch account its data-plane listener
// (implemented by the Batch data-plane service).
type EndpointAllocator interface {
	AllocateAccountEndpoint(ctx context.Context, accountName string) (hostPort string, err error)
	ReleaseAccountEndpoint(ctx context.Context, accountName string) error
}

// Directory creates and deletes the principal of an account's
// system-assigned identity (login.Service implements it).
type Directory interface {
	CreateManagedIdentityPrincipal(ctx context.Context, tenantID, displayName, resourceID string) (cobalt.Principal, error)
	DeletePrincipal(ctx context.Context, objectID string) error
}

// Config configures the provider.
type Config struct {
	Pools     *batch.Service
	Endpoints EndpointAllocator
	// Directory, when set, backs system-assigned account identities with a principal.
	Directory Directory
	Logger    *slog.Logger
	Now       func() time.Time
}

// Provider is the Microsoft.Batch provider; it implements arm.Provider.
type Provider struct {
	cfg Config
	srv *arm.Server
	st  store.Store
	log *slog.Logger
}

// New returns the provider.
func New(cfg Config) (*Provider, error) {
	if cfg.Pools == nil {
		return nil, errors.New("batchprovider: a pool service is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Provider{cfg: cfg, log: cfg.Logger}, nil
}

// Register implements arm.Provider.
func (p *Provider) Register(g *arm.Registrar) error {
	p.srv, p.st = g.Server(), g.Store()
	g.Resume(lroAccountCreate, p.finishCreate)
	g.Resume(lroAccountDelete, p.finishDelete)
	g.Resume(lroPoolDelete, p.finishPoolDelete)
	g.APIVersions(TypeAccount, APIVersions...)
	g.APIVersions(TypePool, APIVersions...)
	const rg = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Batch/batchAccounts"
	const one = rg + "/{accountName}"
	const pools = one + "/pools"
	const pool = pools + "/{poolName}"
	h := func(pattern, typ, action string, fn arm.HandlerFunc) {
		g.Handle(arm.Route{Pattern: pattern, Type: typ, Action: action, Handler: fn})
	}
	h("PUT "+one, TypeAccount, "Microsoft.Batch/batchAccounts/write", p.handlePutAccount)
	h("PATCH "+one, TypeAccount, "Microsoft.Batch/batchAccounts/write", p.handlePatchAccount)
	h("GET "+one, TypeAccount, "Microsoft.Batch/batchAccounts/read", p.handleGetAccount)
	h("DELETE "+one, TypeAccount, "Microsoft.Batch/batchAccounts/delete", p.handleDeleteAccount)
	h("GET "+rg, TypeAccount, "Microsoft.Batch/batchAccounts/read", p.handleListAccounts)
	h("GET /subscriptions/{subscriptionId}/providers/Microsoft.Batch/batchAccounts", TypeAccount, "Microsoft.Batch/batchAccounts/read", p.handleListAccounts)
	h("POST "+one+"/listKeys", TypeAccount, "Microsoft.Batch/batchAccounts/listKeys/action", p.handleListKeys)
	h("POST "+one+"/regenerateKeys", TypeAccount, "Microsoft.Batch/batchAccounts/regenerateKeys/action", p.handleRegenerateKeys)
	h("POST "+one+"/syncAutoStorageKeys", TypeAccount, "Microsoft.Batch/batchAccounts/syncAutoStorageKeys/action", p.handleSyncAutoStorageKeys)
	h("PUT "+pool, TypePool, "Microsoft.Batch/batchAccounts/pools/write", p.handlePutPool)
	h("PATCH "+pool, TypePool, "Microsoft.Batch/batchAccounts/pools/write", p.handlePatchPool)
	h("GET "+pool, TypePool, "Microsoft.Batch/batchAccounts/pools/read", p.handleGetPool)
	h("DELETE "+pool, TypePool, "Microsoft.Batch/batchAccounts/pools/delete", p.handleDeletePool)
	h("GET "+pools, TypePool, "Microsoft.Batch/batchAccounts/pools/read", p.handleListPools)
	h("POST "+pool+"/disableAutoScale", TypePool, "Microsoft.Batch/batchAccounts/pools/disableAutoscale/action", p.handleDisableAutoScale)
	h("POST "+pool+"/stopResize", TypePool, "Microsoft.Batch/batchAccounts/pools/stopResize/action", p.handleStopResize)
	g.OnDelete(p.cascade)
	return nil
}

var accountNameRe = regexp.MustCompile(`^[a-zA-Z0-9]{3,24}$`)

func newKey() string {
	var b [64]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// loadAccount returns the account the request's account path names and its
// version (the ETag), or ARM's 404.
func (p *Provider) loadAccount(ctx context.Context, id cobalt.ResourceID) (*cobalt.Account, int64, error) {
	a, v, err := p.cfg.Pools.AccountRead(ctx, id.String())
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil, 0, arm.NotFound(id)
	}
	return a, v, err
}

// accountOf returns the account ID above a pool path.
func accountOf(id cobalt.ResourceID) cobalt.ResourceID {
	a := id
	if len(a.Types) > 1 {
		a = id.Parent()
	}
	return a
}

func warningHeader(w http.ResponseWriter, warn string) {
	if warn != "" {
		w.Header().Set("Warning", `299 - "`+strings.ReplaceAll(warn, `"`, `'`)+`"`)
	}
}

func jsonBody(r *arm.Request) ([]byte, error) {
	var raw json.RawMessage
	if err := r.Decode(&raw); err != nil {
		return nil, err
	}
	return raw, nil
}
