package batchprovider

import (
	"context"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// The kinds of the provider's long-running operations: each is finished by
// the same function on whichever replica runs it, the one that started it
// or one that took it over after that one died (arm.Registrar.Resume).
const (
	lroAccountCreate = "Microsoft.Batch/batchAccounts/create"
	lroAccountDelete = "Microsoft.Batch/batchAccounts/delete"
	lroPoolDelete    = "Microsoft.Batch/batchAccounts/pools/delete"
)

// finishCreate gives the account id, stored as Creating, its endpoint and
// makes it Succeeded. Run again, it finds the endpoint it opened (or opens
// one on this replica, on the stored port when free).
func (p *Provider) finishCreate(ctx context.Context, id cobalt.ResourceID) (any, error) {
	name := id.Name()
	ep := ""
	if p.cfg.Endpoints != nil {
		var err error
		if ep, err = p.cfg.Endpoints.AllocateAccountEndpoint(ctx, name); err != nil {
			p.fail(ctx, id.String())
			return nil, err
		}
	}
	out, _, err := p.cfg.Pools.AccountUpdate(ctx, id.String(), func(a *cobalt.Account, _ int64) error {
		if a.Endpoint == "" || a.ProvisioningState != "Succeeded" {
			a.Endpoint, a.ProvisioningState = ep, "Succeeded"
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.log.Info("batch account created", logkey.Account, name)
	return renderAccount(out)
}

// finishDelete removes the account id and what it owns; an account already
// gone is done.
func (p *Provider) finishDelete(ctx context.Context, id cobalt.ResourceID) (any, error) {
	a, _, err := p.loadAccount(ctx, id)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := p.deleteAccount(ctx, a); err != nil {
		return nil, err
	}
	err = p.cfg.Pools.AccountDelete(ctx, a.ID)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		err = nil
	}
	return nil, err
}
