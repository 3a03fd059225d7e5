package batchapi

import (
	"context"
	"errors"
	"path/filepath"
	"strings"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// pools returns the configured pool service (nil when none).
func (s *Service) pools() Pools { return s.cfg.Pools }

// accounts returns the configured account source (nil when none).
func (s *Service) accounts() Accounts { return s.cfg.Accounts }

// AccountsFromPools adapts the pool service's accounts to Accounts. rs lists
// the stored Batch accounts (resources of type batch.AccountType); with a nil
// rs, ListBatchAccounts returns none.
func AccountsFromPools(p Pools, rs store.ResourceStore) Accounts { return poolAccounts{p, rs} }

type poolAccounts struct {
	p  Pools
	rs store.ResourceStore
}

func toAccount(a *batch.Account) Account {
	return Account{Name: a.Name, ID: a.ID, Keys: a.Keys, Endpoint: a.Endpoint, AuthModes: a.AllowedAuthenticationModes}
}

func (pa poolAccounts) LookupBatchAccount(ctx context.Context, name string) (Account, error) {
	a, err := pa.p.AccountGet(ctx, name)
	if err != nil {
		return Account{}, err
	}
	return toAccount(a), nil
}

func (pa poolAccounts) ListBatchAccounts(ctx context.Context) ([]Account, error) {
	if pa.rs == nil {
		return nil, nil
	}
	var out []Account
	page := store.Page{Limit: 500}
	for {
		rs, next, err := pa.rs.ResourceList(ctx, store.ResourceListParams{Type: batch.AccountType, Page: page})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			a, err := batch.DecodeAccount(r.Body)
			if err != nil || a.Name == "" {
				continue
			}
			out = append(out, toAccount(a))
		}
		if next == "" {
			return out, nil
		}
		page.Token = next
	}
}

// NodeDirsUnder returns NodeDirs for nodes whose root directories are
// base/<nodeID> (the pool service's Config.NodeRootDir layout), checking
// through p that the node belongs to the account and pool.
func NodeDirsUnder(p Pools, base string) NodeDirs { return nodeDirs{p, base} }

type nodeDirs struct {
	p    Pools
	base string
}

func (nd nodeDirs) NodeRootDir(ctx context.Context, accountID, poolID, nodeID string) (string, error) {
	if nd.base == "" {
		return "", cobalt.Errorf(cobalt.ENotFound, "node directories are not on this host")
	}
	n, err := nd.p.NodeGet(ctx, strings.ToLower(accountID), poolID, nodeID)
	if err != nil {
		return "", err
	}
	if n.ID == "" || strings.ContainsAny(n.ID, `/\`) || n.ID == "." || n.ID == ".." {
		return "", errors.New("bad node id")
	}
	return filepath.Join(nd.base, n.ID), nil
}
