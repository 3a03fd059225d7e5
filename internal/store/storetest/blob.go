package storetest

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func init() {
	register("Blob/ContainerLifecycle", testBlobContainerLifecycle)
	register("Blob/ContainerListPrefix", testBlobContainerList)
	register("Blob/PutGetReplace", testBlobPutReplace)
	register("Blob/PutNeedsContainer", testBlobPutNeedsContainer)
	register("Blob/PutAbortKeepsState", testBlobPutAbort)
	register("Blob/UpdateKeepsExtents", testBlobUpdate)
	register("Blob/DeleteReleasesFiles", testBlobDelete)
	register("Blob/ListBytewise", testBlobList)
	register("Blob/BlocksCommit", testBlobBlocksCommit)
	register("Blob/BlocksExpire", testBlobBlocksExpire)
	register("Blob/ContainerDeleteReleasesAll", testBlobContainerDelete)
	register("Blob/FileRefs", testBlobFileRefs)
}

func mkContainer(t *testing.T, s store.Store, account, name string) store.BlobContainer {
	t.Helper()
	return get(s.BlobContainerCreate(ctx(t), store.BlobContainer{Account: account, Name: name, ETag: "0x1", Metadata: map[string]string{"Team": "a"}})).must(t)
}

func putBlob(t *testing.T, s store.Store, account, container, name string, files ...string) (store.BlobRecord, []string) {
	t.Helper()
	r, rel, err := s.BlobPut(ctx(t), account, container, name, func(cur *store.BlobRecord, _ []store.BlobBlock) (store.BlobRecord, error) {
		nr := store.BlobRecord{ContentType: "text/plain", ETag: "0x" + name, ContentMD5: []byte{1, 2}}
		for _, f := range files {
			nr.Extents = append(nr.Extents, store.BlobExtent{File: f, Size: 10})
		}
		return nr, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, rel
}

func testBlobContainerLifecycle(t *testing.T, s store.Store) {
	c := mkContainer(t, s, "acct", "c1")
	if c.Version != 1 || c.CreatedAt.IsZero() {
		t.Fatalf("created %+v", c)
	}
	_, err := s.BlobContainerCreate(ctx(t), store.BlobContainer{Account: "acct", Name: "c1"})
	wantCode(t, err, cobalt.EConflict)
	get(s.BlobContainerCreate(ctx(t), store.BlobContainer{Account: "other", Name: "c1"})).must(t) // per account
	got := get(s.BlobContainerGet(ctx(t), "acct", "c1")).must(t)
	if got.Metadata["Team"] != "a" || got.ETag != "0x1" {
		t.Fatalf("got %+v", got)
	}
	up := get(s.BlobContainerUpdate(ctx(t), "acct", "c1", func(c *store.BlobContainer) error {
		c.Metadata, c.ETag = map[string]string{"k": "v"}, "0x2"
		return nil
	})).must(t)
	if up.Version != 2 || up.Metadata["k"] != "v" {
		t.Fatalf("updated %+v", up)
	}
	_, err = s.BlobContainerUpdate(ctx(t), "acct", "nope", func(*store.BlobContainer) error { return nil })
	wantCode(t, err, cobalt.ENotFound)
	_, err = s.BlobContainerDelete(ctx(t), "acct", "c1", func(c store.BlobContainer) error {
		return cobalt.Errorf(cobalt.EPreconditionFailed, "no")
	})
	wantCode(t, err, cobalt.EPreconditionFailed)
	get(s.BlobContainerDelete(ctx(t), "acct", "c1", nil)).must(t)
	_, err = s.BlobContainerGet(ctx(t), "acct", "c1")
	wantCode(t, err, cobalt.ENotFound)
	_, err = s.BlobContainerDelete(ctx(t), "acct", "c1", nil)
	wantCode(t, err, cobalt.ENotFound)
}

func testBlobContainerList(t *testing.T, s store.Store) {
	for _, n := range []string{"b-2", "a-1", "b-1", "c-1"} {
		mkContainer(t, s, "acct", n)
	}
	mkContainer(t, s, "zz", "b-9")
	names := func(cs []store.BlobContainer) (out []string) {
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	if got := names(get(s.BlobContainerList(ctx(t), "acct", "", "", 10)).must(t)); !slices.Equal(got, []string{"a-1", "b-1", "b-2", "c-1"}) {
		t.Fatalf("all = %v", got)
	}
	if got := names(get(s.BlobContainerList(ctx(t), "acct", "b-", "", 10)).must(t)); !slices.Equal(got, []string{"b-1", "b-2"}) {
		t.Fatalf("prefix = %v", got)
	}
	if got := names(get(s.BlobContainerList(ctx(t), "acct", "b-", "b-1", 10)).must(t)); !slices.Equal(got, []string{"b-2"}) {
		t.Fatalf("after = %v", got)
	}
	if got := names(get(s.BlobContainerList(ctx(t), "acct", "", "a-1", 2)).must(t)); !slices.Equal(got, []string{"b-1", "b-2"}) {
		t.Fatalf("limit = %v", got)
	}
}

func testBlobPutReplace(t *testing.T, s store.Store) {
	mkContainer(t, s, "acct", "c1")
	r, rel := putBlob(t, s, "acct", "c1", "dir/a.txt", "f1", "f2")
	if r.Version != 1 || r.Size != 20 || len(rel) != 0 || r.CreatedAt.IsZero() {
		t.Fatalf("put = %+v released %v", r, rel)
	}
	got := get(s.BlobGet(ctx(t), "acct", "c1", "dir/a.txt")).must(t)
	if got.ContentType != "text/plain" || len(got.Extents) != 2 || got.Extents[1].File != "f2" || string(got.ContentMD5) != "\x01\x02" || got.ETag != "0xdir/a.txt" {
		t.Fatalf("got %+v", got)
	}
	r2, rel := putBlob(t, s, "acct", "c1", "dir/a.txt", "f2", "f3")
	if r2.Version != 2 || !r2.CreatedAt.Equal(r.CreatedAt) || !slices.Equal(rel, []string{"f1"}) {
		t.Fatalf("replace = %+v released %v", r2, rel)
	}
	_, err := s.BlobGet(ctx(t), "acct", "c1", "dir/b.txt")
	wantCode(t, err, cobalt.ENotFound)
	_, err = s.BlobGet(ctx(t), "other", "c1", "dir/a.txt")
	wantCode(t, err, cobalt.ENotFound)
}

func testBlobPutNeedsContainer(t *testing.T, s store.Store) {
	called := false
	_, _, err := s.BlobPut(ctx(t), "acct", "none", "x", func(*store.BlobRecord, []store.BlobBlock) (store.BlobRecord, error) {
		called = true
		return store.BlobRecord{}, nil
	})
	wantCode(t, err, cobalt.ENotFound)
	if called {
		t.Fatal("fn called without a container")
	}
	_, err = s.BlobBlockPut(ctx(t), store.BlobBlock{Account: "acct", Container: "none", Blob: "x", ID: "aa", File: "f"})
	wantCode(t, err, cobalt.ENotFound)
}

func testBlobPutAbort(t *testing.T, s store.Store) {
	mkContainer(t, s, "acct", "c1")
	putBlob(t, s, "acct", "c1", "a", "f1")
	get(s.BlobBlockPut(ctx(t), store.BlobBlock{Account: "acct", Container: "c1", Blob: "a", ID: "b1", File: "fb1", Size: 3})).must(t)
	_, _, err := s.BlobPut(ctx(t), "acct", "c1", "a", func(cur *store.BlobRecord, blocks []store.BlobBlock) (store.BlobRecord, error) {
		if cur == nil || len(blocks) != 1 || blocks[0].ID != "b1" {
			t.Errorf("fn got cur=%v blocks=%v", cur, blocks)
		}
		return store.BlobRecord{}, cobalt.Errorf(cobalt.EPreconditionFailed, "condition not met")
	})
	wantCode(t, err, cobalt.EPreconditionFailed)
	if got := get(s.BlobGet(ctx(t), "acct", "c1", "a")).must(t); got.Version != 1 {
		t.Fatalf("aborted put changed the blob: %+v", got)
	}
	if bl := get(s.BlobBlockList(ctx(t), "acct", "c1", "a")).must(t); len(bl) != 1 {
		t.Fatalf("aborted put dropped blocks: %v", bl)
	}
}

func testBlobUpdate(t *testing.T, s store.Store) {
	mkContainer(t, s, "acct", "c1")
	putBlob(t, s, "acct", "c1", "a", "f1")
	r := get(s.BlobUpdate(ctx(t), "acct", "c1", "a", func(r *store.BlobRecord) error {
		r.Metadata = map[string]string{"x": "1"}
		r.Extents = nil // ignored
		return nil
	})).must(t)
	if r.Version != 2 || r.Metadata["x"] != "1" || len(r.Extents) != 1 || r.Size != 10 {
		t.Fatalf("updated %+v", r)
	}
	_, err := s.BlobUpdate(ctx(t), "acct", "c1", "nope", func(*store.BlobRecord) error { return nil })
	wantCode(t, err, cobalt.ENotFound)
}

func testBlobDelete(t *testing.T, s store.Store) {
	mkContainer(t, s, "acct", "c1")
	putBlob(t, s, "acct", "c1", "a", "f1", "f2")
	get(s.BlobBlockPut(ctx(t), store.BlobBlock{Account: "acct", Container: "c1", Blob: "a", ID: "b1", File: "fb1"})).must(t)
	_, err := s.BlobDelete(ctx(t), "acct", "c1", "a", func(store.BlobRecord) error { return cobalt.Errorf(cobalt.EPreconditionFailed, "no") })
	wantCode(t, err, cobalt.EPreconditionFailed)
	rel := get(s.BlobDelete(ctx(t), "acct", "c1", "a", nil)).must(t)
	sort.Strings(rel)
	if !slices.Equal(rel, []string{"f1", "f2", "fb1"}) {
		t.Fatalf("released %v", rel)
	}
	_, err = s.BlobDelete(ctx(t), "acct", "c1", "a", nil)
	wantCode(t, err, cobalt.ENotFound)
}

func testBlobList(t *testing.T, s store.Store) {
	mkContainer(t, s, "acct", "c1")
	mkContainer(t, s, "acct", "c2")
	// Bytewise order: upper case before lower case, "/" (0x2F) before "0", "é" after "z".
	for _, n := range []string{"in/b", "in/a", "In/x", "in0", "in/sub/c", "zé", "z"} {
		putBlob(t, s, "acct", "c1", n, "f-"+n)
	}
	putBlob(t, s, "acct", "c2", "in/zz", "g")
	names := func(p store.BlobListParams) (out []string) {
		p.Account = "acct"
		for _, r := range get(s.BlobList(ctx(t), p)).must(t) {
			out = append(out, r.Name)
		}
		return out
	}
	if got := names(store.BlobListParams{Container: "c1", Limit: 100}); !slices.Equal(got, []string{"In/x", "in/a", "in/b", "in/sub/c", "in0", "z", "zé"}) {
		t.Fatalf("all = %v", got)
	}
	if got := names(store.BlobListParams{Container: "c1", Prefix: "in/", Limit: 100}); !slices.Equal(got, []string{"in/a", "in/b", "in/sub/c"}) {
		t.Fatalf("prefix = %v", got)
	}
	if got := names(store.BlobListParams{Container: "c1", Prefix: "in/", After: "in/a", Limit: 1}); !slices.Equal(got, []string{"in/b"}) {
		t.Fatalf("after = %v", got)
	}
	if got := names(store.BlobListParams{Container: "c1", Prefix: "in", After: "in/" + "\U0010FFFF", Limit: 10}); !slices.Equal(got, []string{"in0"}) {
		t.Fatalf("skip = %v", got)
	}
	if got := names(store.BlobListParams{Container: "c1", From: "in/b", Limit: 3}); !slices.Equal(got, []string{"in/b", "in/sub/c", "in0"}) {
		t.Fatalf("from (inclusive) = %v", got)
	}
}

func testBlobBlocksCommit(t *testing.T, s store.Store) {
	mkContainer(t, s, "acct", "c1")
	for i, id := range []string{"b2", "b1", "b3"} {
		get(s.BlobBlockPut(ctx(t), store.BlobBlock{Account: "acct", Container: "c1", Blob: "big", ID: id, File: "f-" + id, Size: int64(i + 1)})).must(t)
	}
	// Restaging an ID replaces it and releases the old file.
	rel := get(s.BlobBlockPut(ctx(t), store.BlobBlock{Account: "acct", Container: "c1", Blob: "big", ID: "b1", File: "f-b1-new", Size: 7})).must(t)
	if !slices.Equal(rel, []string{"f-b1"}) {
		t.Fatalf("restage released %v", rel)
	}
	n, id, err := s.BlobBlockCount(ctx(t), "acct", "c1", "big")
	if err != nil || n != 3 || (id != "b1" && id != "b2" && id != "b3") {
		t.Fatalf("count = %d, %q, %v", n, id, err)
	}
	if n, id, err := s.BlobBlockCount(ctx(t), "acct", "c1", "none"); err != nil || n != 0 || id != "" {
		t.Fatalf("count of none = %d, %q, %v", n, id, err)
	}
	bl := get(s.BlobBlockList(ctx(t), "acct", "c1", "big")).must(t)
	if len(bl) != 3 || bl[0].ID != "b2" || bl[2].ID != "b1" || bl[2].Size != 7 || bl[2].CreatedAt.IsZero() {
		t.Fatalf("blocks %+v", bl)
	}
	if _, err := s.BlobGet(ctx(t), "acct", "c1", "big"); !cobalt.IsCode(err, cobalt.ENotFound) {
		t.Fatalf("uncommitted blocks made a blob visible: %v", err)
	}
	// Commit b1 and b2; b3 is dropped and released.
	r, rel, err := s.BlobPut(ctx(t), "acct", "c1", "big", func(cur *store.BlobRecord, blocks []store.BlobBlock) (store.BlobRecord, error) {
		by := map[string]store.BlobBlock{}
		for _, b := range blocks {
			by[b.ID] = b
		}
		var nr store.BlobRecord
		for _, id := range []string{"b1", "b2"} {
			nr.Extents = append(nr.Extents, store.BlobExtent{BlockID: id, File: by[id].File, Size: by[id].Size})
		}
		return nr, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Size != 8 || !slices.Equal(rel, []string{"f-b3"}) {
		t.Fatalf("commit = %+v released %v", r, rel)
	}
	if bl := get(s.BlobBlockList(ctx(t), "acct", "c1", "big")).must(t); len(bl) != 0 {
		t.Fatalf("blocks left after commit: %v", bl)
	}
	// A recommit keeping only the committed b2 releases b1's file.
	_, rel, err = s.BlobPut(ctx(t), "acct", "c1", "big", func(cur *store.BlobRecord, _ []store.BlobBlock) (store.BlobRecord, error) {
		return store.BlobRecord{Extents: cur.Extents[1:]}, nil
	})
	if err != nil || !slices.Equal(rel, []string{"f-b1-new"}) {
		t.Fatalf("recommit released %v, %v", rel, err)
	}
}

func testBlobBlocksExpire(t *testing.T, s store.Store) {
	mkContainer(t, s, "acct", "c1")
	t0 := time.Unix(1_000_000, 0).UTC()
	for i := range 5 {
		get(s.BlobBlockPut(ctx(t), store.BlobBlock{Account: "acct", Container: "c1", Blob: "x", ID: fmt.Sprint("id", i), File: fmt.Sprint("f", i), CreatedAt: t0.Add(time.Duration(i) * time.Hour)})).must(t)
	}
	files := get(s.BlobBlockExpire(ctx(t), t0.Add(150*time.Minute), 2)).must(t)
	sort.Strings(files)
	if !slices.Equal(files, []string{"f0", "f1"}) {
		t.Fatalf("expired %v", files)
	}
	files = get(s.BlobBlockExpire(ctx(t), t0.Add(150*time.Minute), 100)).must(t)
	if !slices.Equal(files, []string{"f2"}) {
		t.Fatalf("expired %v", files)
	}
	if bl := get(s.BlobBlockList(ctx(t), "acct", "c1", "x")).must(t); len(bl) != 2 {
		t.Fatalf("left %v", bl)
	}
}

func testBlobContainerDelete(t *testing.T, s store.Store) {
	mkContainer(t, s, "acct", "c1")
	mkContainer(t, s, "acct", "c2")
	putBlob(t, s, "acct", "c1", "a", "f1")
	putBlob(t, s, "acct", "c1", "b", "f2", "f3")
	putBlob(t, s, "acct", "c2", "a", "g1")
	get(s.BlobBlockPut(ctx(t), store.BlobBlock{Account: "acct", Container: "c1", Blob: "z", ID: "q", File: "fq"})).must(t)
	rel := get(s.BlobContainerDelete(ctx(t), "acct", "c1", nil)).must(t)
	sort.Strings(rel)
	if !slices.Equal(rel, []string{"f1", "f2", "f3", "fq"}) {
		t.Fatalf("released %v", rel)
	}
	mkContainer(t, s, "acct", "c1")
	if got := get(s.BlobList(ctx(t), store.BlobListParams{Account: "acct", Container: "c1", Limit: 10})).must(t); len(got) != 0 {
		t.Fatalf("recreated container has blobs: %v", got)
	}
	get(s.BlobGet(ctx(t), "acct", "c2", "a")).must(t)
}

func testBlobFileRefs(t *testing.T, s store.Store) {
	mkContainer(t, s, "acct", "c1")
	var want []string
	for i := range 1203 { // more than one internal page
		f := fmt.Sprintf("f%04d", i)
		putBlob(t, s, "acct", "c1", fmt.Sprint("b", i), f)
		want = append(want, f)
	}
	get(s.BlobBlockPut(ctx(t), store.BlobBlock{Account: "acct", Container: "c1", Blob: "z", ID: "q", File: "fq"})).must(t)
	want = append(want, "fq")
	var got []string
	if err := s.BlobFileRefs(ctx(t), func(f string) error { got = append(got, f); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("refs: got %d files, want %d", len(got), len(want))
	}
}
