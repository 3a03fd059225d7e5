package server

import (
	"context"

	"github.com/cobaltbatch/cobalt/internal/arm"
	"github.com/cobaltbatch/cobalt/internal/blob"
)

// blobAccounts gives the blob service the storage accounts of the management plane.
type blobAccounts struct{ arm *arm.Server }

// StorageAccount implements blob.Accounts.
func (a blobAccounts) StorageAccount(ctx context.Context, name string) (blob.Account, error) {
	sa, err := a.arm.LookupStorageAccount(ctx, name)
	if err != nil {
		return blob.Account{}, err
	}
	return blob.Account{ID: sa.ID, Keys: sa.Keys, SharedKeyAccess: sa.SharedKeyAccess}, nil
}
