package batch

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// StorageAccounts finds a storage account's keys by name
// (arm.Server.LookupStorageAccount): ENotFound when the account is gone.
type StorageAccounts interface {
	LookupStorageAccount(ctx context.Context, name string) (cobalt.StorageAccount, error)
}

// autoStorageSASLifetime is how long the SAS of an auto-storage container
// URL is valid.
const autoStorageSASLifetime = 24 * time.Hour

// AutoStorageContainerURL resolves a resource file's
// autoStorageContainerName, for start tasks and tasks alike, by Azure
// Batch's rule: the service, not the node, holds the credentials of the
// account's auto-storage account, and hands the node the container's URL
// with a read and list SAS signed with the storage account's key (valid for
// a day). accountID is the Batch account's ARM ID (any case). It fails with
// ENotFound (reason AutoStorageNotConfigured) when the account has no
// auto-storage account, and with ENotFound when that storage account is gone.
func (s *Service) AutoStorageContainerURL(ctx context.Context, accountID, container string) (string, error) {
	acct, err := s.AccountByID(ctx, accountID)
	if err != nil {
		return "", err
	}
	if acct.AutoStorage == nil || acct.AutoStorage.StorageAccountID == "" {
		return "", cobalt.Errorf(cobalt.ENotFound, "The Batch account %s has no auto-storage account.", acct.Name).
			WithReason(errwire.ReasonAutoStorageNotConfigured)
	}
	if s.cfg.StorageAccounts == nil || s.cfg.BlobEndpoint == "" {
		return "", cobalt.Errorf(cobalt.EInternal, "no storage directory or blob endpoint is configured")
	}
	id, err := cobalt.ParseResourceID(acct.AutoStorage.StorageAccountID)
	if err != nil {
		return "", err
	}
	sa, err := s.cfg.StorageAccounts.LookupStorageAccount(ctx, id.Name())
	if err != nil {
		return "", err
	}
	if !sa.SharedKeyAccess {
		// Batch signs auto-storage SAS URLs with the account's key; an account
		// that refuses key-based access would refuse the SAS too.
		return "", cobalt.Errorf(cobalt.EForbidden, "The auto-storage account %s does not allow shared key access, so Batch cannot sign a SAS for container %s.", id.Name(), container).
			WithReason("KeyBasedAuthenticationNotPermitted")
	}
	cred, err := azblob.NewSharedKeyCredential(id.Name(), sa.Keys[0])
	if err != nil {
		return "", fmt.Errorf("auto-storage key of %s: %w", id.Name(), err)
	}
	now := s.now()
	q, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPS,
		StartTime:     now.Add(-5 * time.Minute),
		ExpiryTime:    now.Add(autoStorageSASLifetime),
		Permissions:   (&sas.ContainerPermissions{Read: true, List: true}).String(),
		ContainerName: container,
	}.SignWithSharedKey(cred)
	if err != nil {
		return "", fmt.Errorf("sign the auto-storage SAS: %w", err)
	}
	return strings.TrimSuffix(s.cfg.BlobEndpoint, "/") + "/" + url.PathEscape(id.Name()) + "/" + url.PathEscape(container) + "?" + q.Encode(), nil
}

// resolveStartTaskFiles fills the URLs of a registering node's start-task
// resource files that name an auto-storage container (AutoStorageFiles,
// recorded at allocation). The SAS is made at every registration, so a node
// that restarts days later still gets a valid one, and it is never stored.
// A file that cannot be resolved keeps no URL: its download fails on the
// node, and the start task with it, as on Batch.
func (s *Service) resolveStartTaskFiles(ctx context.Context, n *Node, cfg *nodeproto.NodeConfig) {
	if cfg.StartTask == nil || len(n.AutoStorageFiles) == 0 {
		return
	}
	files := slices.Clone(cfg.StartTask.ResourceFiles)
	for i, container := range n.AutoStorageFiles {
		if i < 0 || i >= len(files) {
			continue
		}
		u, err := s.AutoStorageContainerURL(ctx, n.AccountKey, container)
		if err != nil {
			s.log.Warn("resolve a start task's auto-storage container", logkey.Node, n.ID, logkey.Container, container, logkey.Err, err)
			continue
		}
		files[i].StorageContainerURL = u
	}
	st := *cfg.StartTask
	st.ResourceFiles = files
	cfg.StartTask = &st
}
