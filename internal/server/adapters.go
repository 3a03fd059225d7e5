package server

import (
	"context"
	"strings"

	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/jobs"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/nodeapi"
)

// This file holds the glue between services whose consumer interfaces name
// their own small types: each adapter converts and calls, nothing more.

// The jobs service serves the node API directly: heartbeats reconcile
// leases through it.
var (
	_ nodeapi.Dispatcher      = (*jobs.Service)(nil)
	_ nodeapi.LeaseReconciler = (*jobs.Service)(nil)
	_ jobs.AutoStorage        = (*batch.Service)(nil)
)

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

var _ jobs.PoolLookup = poolLookup{}

func (p poolLookup) PoolScheduling(ctx context.Context, accountID, poolID string) (jobs.PoolScheduling, error) {
	v, err := p.pools.PoolSchedulingView(ctx, strings.ToLower(accountID), poolID)
	if err != nil {
		return jobs.PoolScheduling{}, err
	}
	return jobs.PoolScheduling{TaskSlotsPerNode: v.TaskSlotsPerNode, NodeFillType: v.NodeFillType}, nil
}
