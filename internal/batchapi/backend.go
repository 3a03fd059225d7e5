package batchapi

import (
	"context"
	"errors"
	"github.com/cobaltbatch/cobalt/internal/nodefiles"
	"path/filepath"
	"strings"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// pools returns the configured pool service (nil when none).
func (s *Service) pools() Pools { return s.cfg.Pools }

// accounts returns the configured account source (nil when none).
func (s *Service) accounts() Accounts { return s.cfg.Accounts }

// AccountsFromPools adapts the pool service's accounts to Accounts. The pool
// service lists the accounts when rs is not nil; with a nil rs,
// ListBatchAccounts returns none.
func AccountsFromPools(p Pools, rs store.ResourceStore) Accounts { return poolAccounts{p, rs} }

type poolAccounts struct {
	p  Pools
	rs store.ResourceStore
}

func toAccount(a *cobalt.Account) Account {
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
	as, err := pa.p.AccountListAll(ctx)
	if err != nil {
		return nil, err
	}
	var out []Account
	for _, a := range as {
		if a.Name != "" {
			out = append(out, toAccount(a))
		}
	}
	return out, nil
}

// NodeDirsUnder returns NodeFiles for nodes whose root directories are
// base/<nodeID> (the pool service's Config.NodeRootDir layout), checking
// through p that the node belongs to the account and pool. remote, if not
// nil, serves the files of nodes placed on hosts other than localHostID.
func NodeDirsUnder(p Pools, base string) NodeFiles { return NodeFilesOf(p, base, "", nil) }

// RemoteNodeFiles returns the files of a node on a joined host.
type RemoteNodeFiles func(ctx context.Context, hostID, nodeID string) (nodefiles.Source, error)

// NodeFilesOf is NodeDirsUnder with the files of nodes on other hosts than
// localHostID served by remote ("" and localHostID are this host).
func NodeFilesOf(p Pools, base, localHostID string, remote RemoteNodeFiles) NodeFiles {
	return nodeDirs{p, base, localHostID, remote}
}

type nodeDirs struct {
	p       Pools
	base    string
	localID string
	remote  RemoteNodeFiles
}

func (nd nodeDirs) NodeFiles(ctx context.Context, accountID, poolID, nodeID string) (nodefiles.Source, error) {
	n, err := nd.p.NodeGet(ctx, strings.ToLower(accountID), poolID, nodeID)
	if err != nil {
		return nil, err
	}
	if !nodefiles.ValidNodeID(n.ID) {
		return nil, errors.New("bad node id")
	}
	if n.HostID != "" && n.HostID != nd.localID && nd.remote != nil {
		return nd.remote(ctx, n.HostID, n.ID)
	}
	if nd.base == "" {
		return nil, cobalt.Errorf(cobalt.ENotFound, "node directories are not on this host")
	}
	return nodefiles.Local(filepath.Join(nd.base, n.ID)), nil
}
