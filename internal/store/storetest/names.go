package storetest

import (
	"sync"
	"testing"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func init() {
	register("Resource/UniqueNamePerType", testResourceUniqueName)
	register("Resource/UniqueNameConcurrentCreate", testResourceUniqueNameRace)
	register("Resource/StorageAccountDeleteDropsBlobs", testStorageAccountDeleteDropsBlobs)
}

func storageAccount(rg, name string) store.Resource {
	r := resNewResource(rg, "Microsoft.Storage/storageAccounts", name)
	r.UniqueName = name
	return r
}

func testResourceUniqueName(t *testing.T, s store.Store) {
	a := get(s.ResourceCreate(ctx(t), storageAccount("rg1", "acct"))).must(t)
	if a.UniqueName != "acct" || get(s.ResourceGet(ctx(t), a.Key)).must(t).UniqueName != "acct" {
		t.Fatalf("unique name not kept: %+v", a)
	}
	_, err := s.ResourceCreate(ctx(t), storageAccount("rg2", "acct"))
	wantCode(t, err, cobalt.EConflict)
	// Another type may use the name; resources without one never conflict.
	other := resNewResource("rg2", "Microsoft.Batch/batchAccounts", "acct")
	other.UniqueName = "acct"
	get(s.ResourceCreate(ctx(t), other)).must(t)
	get(s.ResourceCreate(ctx(t), resNewResource("rg1", "Microsoft.ManagedIdentity/userAssignedIdentities", "x"))).must(t)
	get(s.ResourceCreate(ctx(t), resNewResource("rg2", "Microsoft.ManagedIdentity/userAssignedIdentities", "x"))).must(t)
	// The name is found by list, and cannot be changed by an update.
	l := get2(s.ResourceList(ctx(t), store.ResourceListParams{Type: "Microsoft.Storage/storageAccounts", UniqueName: "acct"})).must(t).items
	if len(l) != 1 || l[0].Key != a.Key {
		t.Fatalf("list by unique name = %+v", l)
	}
	u := get(s.ResourceUpdate(ctx(t), a.Key, func(r *store.Resource) error { r.UniqueName = "hijack"; return nil })).must(t)
	if u.UniqueName != "acct" {
		t.Fatalf("update changed the unique name to %q", u.UniqueName)
	}
	// Deleted, the name is free.
	if err := s.ResourceDelete(ctx(t), a.Key); err != nil {
		t.Fatal(err)
	}
	get(s.ResourceCreate(ctx(t), storageAccount("rg2", "acct"))).must(t)
}

func testResourceUniqueNameRace(t *testing.T, s store.Store) {
	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.ResourceCreate(ctx(t), storageAccount("rg"+string(rune('a'+i)), "racy"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created++
			case !cobalt.IsCode(err, cobalt.EConflict):
				t.Errorf("create: %v", err)
			}
		}()
	}
	wg.Wait()
	if created != 1 {
		t.Fatalf("%d accounts named racy were created, want 1", created)
	}
}

func testStorageAccountDeleteDropsBlobs(t *testing.T, s store.Store) {
	a := get(s.ResourceCreate(ctx(t), storageAccount("rg", "acct"))).must(t)
	get(s.ResourceCreate(ctx(t), storageAccount("rg", "keep"))).must(t)
	for _, acct := range []string{"acct", "keep"} {
		mkContainer(t, s, acct, "c1")
		putBlob(t, s, acct, "c1", "b1", acct+"-f1")
		if _, err := s.BlobBlockPut(ctx(t), store.BlobBlock{Account: acct, Container: "c1", Blob: "b2", ID: "QQ==", File: acct + "-f2", Size: 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.BlobServiceSet(ctx(t), acct, store.BlobServiceProps(`{"x":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ResourceDelete(ctx(t), a.Key); err != nil {
		t.Fatal(err)
	}
	// A new account of the same name starts empty.
	get(s.ResourceCreate(ctx(t), storageAccount("rg2", "acct"))).must(t)
	if cs := get(s.BlobContainerList(ctx(t), "acct", "", "", 100)).must(t); len(cs) != 0 {
		t.Fatalf("containers of the deleted account: %+v", cs)
	}
	_, err := s.BlobGet(ctx(t), "acct", "c1", "b1")
	wantCode(t, err, cobalt.ENotFound)
	if bs := get(s.BlobBlockList(ctx(t), "acct", "c1", "b2")).must(t); len(bs) != 0 {
		t.Fatalf("blocks of the deleted account: %+v", bs)
	}
	_, err = s.BlobServiceGet(ctx(t), "acct")
	wantCode(t, err, cobalt.ENotFound)
	// The other account keeps everything.
	get(s.BlobGet(ctx(t), "keep", "c1", "b1")).must(t)
	get(s.BlobServiceGet(ctx(t), "keep")).must(t)
	if bs := get(s.BlobBlockList(ctx(t), "keep", "c1", "b2")).must(t); len(bs) != 1 {
		t.Fatalf("blocks of the other account: %+v", bs)
	}
	// The dropped files are no longer referenced, so the collector removes them.
	refs := map[string]bool{}
	if err := s.BlobFileRefs(ctx(t), func(f string) error { refs[f] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if refs["acct-f1"] || refs["acct-f2"] || !refs["keep-f1"] || !refs["keep-f2"] {
		t.Fatalf("file references after delete: %v", refs)
	}
}
