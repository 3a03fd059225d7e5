package server

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/arm"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/jobs"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/nodeapi"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// This file holds the glue between services whose consumer interfaces name
// their own small types: each adapter converts and calls, nothing more.

// dispatcher lets the pool service and the node API reach the jobs service.
type dispatcher struct{ jobs *jobs.Service }

var _ batch.TaskDispatcher = dispatcher{}

func jobsRef(n batch.NodeRef) cobalt.NodeRef {
	return cobalt.NodeRef{AccountID: n.AccountID, PoolID: n.PoolID, NodeID: n.NodeID}
}

func (d dispatcher) Lease(ctx context.Context, n batch.NodeRef, free int, wait time.Duration) ([]nodeproto.TaskLease, error) {
	return d.jobs.Lease(ctx, jobsRef(n), free, wait)
}

func (d dispatcher) Report(ctx context.Context, n batch.NodeRef, r nodeproto.ReportRequest) error {
	return d.jobs.Report(ctx, jobsRef(n), r)
}

func (d dispatcher) NodeLost(ctx context.Context, n batch.NodeRef) error {
	return d.jobs.NodeLost(ctx, jobsRef(n))
}

var _ nodeapi.LeaseReconciler = dispatcher{}

// Reconcile lets node heartbeats stop terminated tasks and requeue leases a node never got.
func (d dispatcher) Reconcile(ctx context.Context, n batch.NodeRef, running []string) ([]string, error) {
	return d.jobs.Reconcile(ctx, jobsRef(n), running)
}

// tokenIssuer lets the node API issue managed-identity tokens through the login service.
type tokenIssuer struct{ login *login.Service }

var _ nodeapi.TokenIssuer = tokenIssuer{}

func (t tokenIssuer) IssueToken(ctx context.Context, objectID, resource string, audit map[string]string) (nodeapi.Token, error) {
	tok, err := t.login.IssueToken(ctx, login.IssueRequest{ObjectID: objectID, Resource: resource, Audit: audit})
	if err != nil {
		return nodeapi.Token{}, err
	}
	return nodeapi.Token{AccessToken: tok.AccessToken, IssuedAt: tok.IssuedAt, NotBefore: tok.NotBefore, ExpiresAt: tok.ExpiresAt}, nil
}

// poolLookup gives the scheduler a pool's slots and fill type.
type poolLookup struct{ pools *batch.Service }

var _ jobs.PoolLookup = (*poolLookup)(nil)

func (p *poolLookup) PoolScheduling(ctx context.Context, accountID, poolID string) (jobs.PoolScheduling, error) {
	v, err := p.pools.PoolSchedulingView(ctx, strings.ToLower(accountID), poolID)
	if err != nil {
		return jobs.PoolScheduling{}, err
	}
	return jobs.PoolScheduling{TaskSlotsPerNode: v.TaskSlotsPerNode, NodeFillType: v.NodeFillType}, nil
}

// autoStorage resolves autoStorageContainerName through the Batch account's
// auto-storage account: Batch itself authorizes those downloads, so the URL it
// hands the node carries a read and list SAS for the container, signed with the
// storage account's key and valid for a day.
type autoStorage struct {
	pools   *poolLookup
	arm     *arm.Server
	blobURL string
	now     func() time.Time
}

var _ jobs.AutoStorage = (*autoStorage)(nil)

func (a *autoStorage) AutoStorageContainerURL(ctx context.Context, accountID, container string) (string, error) {
	acct, err := a.pools.pools.AccountByID(ctx, accountID)
	if err != nil {
		return "", err
	}
	if acct.AutoStorage == nil || acct.AutoStorage.StorageAccountID == "" {
		return "", cobalt.Errorf(cobalt.ENotFound, "The Batch account %s has no auto-storage account.", acct.Name).
			WithReason("AutoStorageNotConfigured")
	}
	id, err := cobalt.ParseResourceID(acct.AutoStorage.StorageAccountID)
	if err != nil {
		return "", err
	}
	sa, err := a.arm.LookupStorageAccount(ctx, id.Name())
	if err != nil {
		return "", err
	}
	cred, err := azblob.NewSharedKeyCredential(id.Name(), sa.Keys[0])
	if err != nil {
		return "", err
	}
	now := a.now().UTC()
	q, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPS,
		StartTime:     now.Add(-5 * time.Minute),
		ExpiryTime:    now.Add(24 * time.Hour),
		Permissions:   (&sas.ContainerPermissions{Read: true, List: true}).String(),
		ContainerName: container,
	}.SignWithSharedKey(cred)
	if err != nil {
		return "", fmt.Errorf("sign the auto-storage SAS: %w", err)
	}
	return a.blobURL + "/" + url.PathEscape(id.Name()) + "/" + url.PathEscape(container) + "?" + q.Encode(), nil
}
