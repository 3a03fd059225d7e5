package store

import (
	"context"
	"time"
)

// BlobContainer is a stored blob container of a storage account.
type BlobContainer struct {
	// Account is the storage account name; Name the container name.
	Account string
	Name    string
	// Metadata holds the x-ms-meta-* pairs, names in the case they were set.
	Metadata map[string]string
	// ETag is the quoted-less entity tag the service chose at the last write.
	ETag       string
	CreatedAt  time.Time
	ModifiedAt time.Time
	Version    int64
	// Lease is the container's lease (zero: never leased).
	Lease BlobLease
	// PublicAccess is the anonymous read level: "", "blob" or "container".
	PublicAccess string
	// Policies are the stored access policies (at most 5), for service SAS si=.
	Policies []BlobAccessPolicy
}

// BlobLease is the lease of a blob or container. State is the stored state:
// "" (never leased or released), "leased", "breaking" or "broken"; a fixed
// lease past Expires is expired, a breaking one past BreakAt is broken.
type BlobLease struct {
	ID    string `json:"id,omitempty"`
	State string `json:"state,omitempty"`
	// Duration is the lease's length in seconds, -1 for an infinite lease.
	Duration int       `json:"duration,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
	BreakAt  time.Time `json:"breakAt,omitzero"`
}

// BlobAccessPolicy is a container's stored access policy (a signed identifier).
// Start and Expiry are as the client sent them (ISO 8601, may be empty).
type BlobAccessPolicy struct {
	ID         string `json:"id"`
	Start      string `json:"start,omitempty"`
	Expiry     string `json:"expiry,omitempty"`
	Permission string `json:"permission,omitempty"`
}

// BlobCopy records the last copy that created a blob (Copy Blob, Copy From URL).
type BlobCopy struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	Status      string    `json:"status"`
	Progress    string    `json:"progress,omitempty"`
	CompletedAt time.Time `json:"completedAt,omitzero"`
}

// BlobExtent is one piece of a blob's content: a data file and its length.
// A blob's content is its extents in order. BlockID is the committed block's
// ID (base64, as the client sent it) or "" for content written by Put Blob.
type BlobExtent struct {
	BlockID string `json:"i,omitempty"`
	File    string `json:"f"`
	Size    int64  `json:"n"`
}

// BlobRecord is a stored (committed) block or append blob.
type BlobRecord struct {
	Account   string
	Container string
	Name      string
	// Size is the sum of the extents' sizes.
	Size               int64
	ContentType        string
	ContentEncoding    string
	ContentLanguage    string
	ContentDisposition string
	CacheControl       string
	// ContentMD5 is the blob's MD5 as set by Put Blob or x-ms-blob-content-md5 (nil if unknown).
	ContentMD5 []byte
	Metadata   map[string]string
	Extents    []BlobExtent
	// ETag is the entity tag the service chose at the last write.
	ETag       string
	CreatedAt  time.Time
	ModifiedAt time.Time
	Version    int64
	// BlobType is "" for a block blob or "AppendBlob"; Sealed marks a sealed append blob.
	BlobType string
	Sealed   bool
	// AccessTier is "" (inferred Hot) or the tier set: Hot, Cool, Cold, Archive.
	AccessTier    string
	TierChangedAt time.Time
	Tags          map[string]string
	Lease         BlobLease
	Copy          *BlobCopy
}

// Files returns the data files the record references.
func (b *BlobRecord) Files() []string {
	if b == nil {
		return nil
	}
	out := make([]string, 0, len(b.Extents))
	for _, e := range b.Extents {
		out = append(out, e.File)
	}
	return out
}

// BlobBlock is an uncommitted block staged by Put Block.
type BlobBlock struct {
	Account   string
	Container string
	Blob      string
	// ID is the block ID as the client sent it (base64).
	ID        string
	File      string
	Size      int64
	CreatedAt time.Time
}

// BlobListParams selects the blobs of one container: names that start with
// Prefix, sort (bytewise) after After and not before From, in name order, at
// most Limit (1..5000).
type BlobListParams struct {
	Account   string
	Container string
	Prefix    string
	After     string
	From      string
	Limit     int
}

// BlobServiceProps is the opaque document of an account's blob service
// properties (the service encodes it).
type BlobServiceProps []byte

// BlobStore keeps the blob service's containers, blob index and uncommitted
// blocks. The blob service owns this slice of the interface. The store knows
// data files only by name; it never touches them. Methods that drop references
// to data files return the names that no record references any more, for the
// caller to delete after the call returns. Names sort bytewise on every backend.
type BlobStore interface {
	// BlobContainerCreate stores a new container; EConflict if it exists.
	BlobContainerCreate(ctx context.Context, c BlobContainer) (BlobContainer, error)
	// BlobContainerGet returns a container, or ENotFound.
	BlobContainerGet(ctx context.Context, account, name string) (BlobContainer, error)
	// BlobContainerUpdate applies fn to the container under compare-and-swap
	// (Metadata, ETag, ModifiedAt, Lease, PublicAccess, Policies may change). ENotFound if absent; fn's error is returned as is.
	BlobContainerUpdate(ctx context.Context, account, name string, fn func(*BlobContainer) error) (BlobContainer, error)
	// BlobContainerDelete removes a container with its blobs and blocks after
	// check (may be nil) accepts it, and returns the released data files. ENotFound if absent.
	BlobContainerDelete(ctx context.Context, account, name string, check func(BlobContainer) error) ([]string, error)
	// BlobContainerList lists an account's containers whose names start with
	// prefix and sort after after, in name order, at most limit.
	BlobContainerList(ctx context.Context, account, prefix, after string, limit int) ([]BlobContainer, error)

	// BlobGet returns a blob, or ENotFound.
	BlobGet(ctx context.Context, account, container, name string) (BlobRecord, error)
	// BlobPut creates or replaces a blob in one transaction. fn receives the
	// current blob (nil if none) and the blob's uncommitted blocks, and returns
	// the new record; its error is returned as is and nothing changes. Every
	// uncommitted block of the blob is dropped. ENotFound if the container is
	// absent (fn is not called). Returns the stored record and the released files.
	BlobPut(ctx context.Context, account, container, name string, fn func(cur *BlobRecord, blocks []BlobBlock) (BlobRecord, error)) (BlobRecord, []string, error)
	// BlobUpdate applies fn to an existing blob's properties and metadata under
	// compare-and-swap (its extents must not change). ENotFound if absent.
	BlobUpdate(ctx context.Context, account, container, name string, fn func(*BlobRecord) error) (BlobRecord, error)
	// BlobDelete removes a blob and its uncommitted blocks after check (may be
	// nil) accepts it, and returns the released files. ENotFound if absent.
	BlobDelete(ctx context.Context, account, container, name string, check func(BlobRecord) error) ([]string, error)
	// BlobList lists blobs (see BlobListParams).
	BlobList(ctx context.Context, p BlobListParams) ([]BlobRecord, error)

	// BlobBlockPut stages an uncommitted block, replacing one with the same ID
	// (whose file is then released). ENotFound if the container is absent.
	BlobBlockPut(ctx context.Context, b BlobBlock) ([]string, error)
	// BlobBlockCount returns how many uncommitted blocks a blob has and the
	// ID of one of them ("" if none), without reading them all.
	BlobBlockCount(ctx context.Context, account, container, blob string) (int, string, error)
	// BlobBlockList returns a blob's uncommitted blocks in staging order.
	BlobBlockList(ctx context.Context, account, container, blob string) ([]BlobBlock, error)
	// BlobBlockExpire drops at most limit uncommitted blocks staged before
	// before and returns their files.
	BlobBlockExpire(ctx context.Context, before time.Time, limit int) ([]string, error)
	// BlobServiceGet returns an account's stored blob service properties, or ENotFound if never set.
	BlobServiceGet(ctx context.Context, account string) (BlobServiceProps, error)
	// BlobServiceSet stores an account's blob service properties.
	BlobServiceSet(ctx context.Context, account string, props BlobServiceProps) error
	// BlobFileRefs calls fn with every data file a blob or block references
	// (a consistent snapshot is not promised: callers must tolerate files
	// referenced by writes that commit during the walk).
	BlobFileRefs(ctx context.Context, fn func(file string) error) error
}
