package storetest

import (
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func init() {
	register("Blob/RecordPropertiesRoundTrip", testBlobRecordProps)
	register("Blob/ContainerLeaseACL", testBlobContainerLeaseACL)
	register("Blob/ServiceProps", testBlobServiceProps)
}

// testBlobRecordProps checks that the type, tier, tags, lease and copy
// fields survive a put and an update, and that an update keeps the extents.
func testBlobRecordProps(t *testing.T, s store.Store) {
	mkContainer(t, s, "acct", "c1")
	exp := time.Unix(1700000000, 0).UTC()
	_, _, err := s.BlobPut(ctx(t), "acct", "c1", "ap", func(cur *store.BlobRecord, _ []store.BlobBlock) (store.BlobRecord, error) {
		return store.BlobRecord{ETag: "0x1", BlobType: "AppendBlob", AccessTier: "Cool", TierChangedAt: exp,
			Tags:    map[string]string{"k": "v"},
			Lease:   store.BlobLease{ID: "l1", State: "leased", Duration: 15, Expires: exp},
			Copy:    &store.BlobCopy{ID: "c1", Source: "https://x/y", Status: "success", Progress: "3/3", CompletedAt: exp},
			Extents: []store.BlobExtent{{File: "f1", Size: 3}}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := get(s.BlobGet(ctx(t), "acct", "c1", "ap")).must(t)
	if got.BlobType != "AppendBlob" || got.AccessTier != "Cool" || !got.TierChangedAt.Equal(exp) || got.Tags["k"] != "v" ||
		got.Lease.ID != "l1" || got.Lease.Duration != 15 || !got.Lease.Expires.Equal(exp) || got.Copy == nil || got.Copy.Progress != "3/3" || !got.Copy.CompletedAt.Equal(exp) {
		t.Fatalf("got %+v", got)
	}
	up := get(s.BlobUpdate(ctx(t), "acct", "c1", "ap", func(r *store.BlobRecord) error {
		r.Sealed, r.Lease, r.Tags = true, store.BlobLease{}, nil
		return nil
	})).must(t)
	got = get(s.BlobGet(ctx(t), "acct", "c1", "ap")).must(t)
	if !got.Sealed || got.Lease.State != "" || got.Tags != nil || got.Size != 3 || up.Version != 2 || got.BlobType != "AppendBlob" {
		t.Fatalf("after update %+v", got)
	}
}

func testBlobContainerLeaseACL(t *testing.T, s store.Store) {
	mkContainer(t, s, "acct", "c1")
	get(s.BlobContainerUpdate(ctx(t), "acct", "c1", func(c *store.BlobContainer) error {
		c.Lease = store.BlobLease{ID: "l", State: "leased", Duration: -1}
		c.PublicAccess = "blob"
		c.Policies = []store.BlobAccessPolicy{{ID: "p1", Expiry: "2030-01-01T00:00:00Z", Permission: "r"}, {ID: "p2"}}
		return nil
	})).must(t)
	c := get(s.BlobContainerGet(ctx(t), "acct", "c1")).must(t)
	if c.Lease.ID != "l" || c.Lease.Duration != -1 || c.PublicAccess != "blob" || len(c.Policies) != 2 || c.Policies[0].Permission != "r" || c.Metadata["Team"] != "a" {
		t.Fatalf("got %+v", c)
	}
	list := get(s.BlobContainerList(ctx(t), "acct", "", "", 10)).must(t)
	if len(list) != 1 || list[0].Lease.State != "leased" {
		t.Fatalf("list %+v", list)
	}
}

func testBlobServiceProps(t *testing.T, s store.Store) {
	_, err := s.BlobServiceGet(ctx(t), "acct")
	wantCode(t, err, cobalt.ENotFound)
	if err := s.BlobServiceSet(ctx(t), "acct", store.BlobServiceProps(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.BlobServiceSet(ctx(t), "acct", store.BlobServiceProps(`{"a":2}`)); err != nil {
		t.Fatal(err)
	}
	if got := get(s.BlobServiceGet(ctx(t), "acct")).must(t); string(got) != `{"a":2}` {
		t.Fatalf("got %s", got)
	}
	_, err = s.BlobServiceGet(ctx(t), "other")
	wantCode(t, err, cobalt.ENotFound)
}
