package blob

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// maxAppendBytes is the largest Append Block body (100 MiB since 2022-11-02).
const maxAppendBytes = 100 << 20

// appendConds are an Append Block's append-blob conditions (-1 = absent).
type appendConds struct{ pos, maxSize int64 }

func readAppendConds(h http.Header) (appendConds, error) {
	ac := appendConds{pos: -1, maxSize: -1}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"x-ms-blob-condition-appendpos", &ac.pos}, {"x-ms-blob-condition-maxsize", &ac.maxSize}} {
		if v := h.Get(f.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return ac, apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget(f.name)
			}
			*f.dst = n
		}
	}
	return ac, nil
}

// check applies the conditions to an append of n bytes to a blob of size size.
func (ac appendConds) check(size, n int64) error {
	if ac.maxSize >= 0 && size+n > ac.maxSize {
		return apiErr(cobalt.EPreconditionFailed, "MaxBlobSizeConditionNotMet", "The max blob size condition specified was not met.")
	}
	if ac.pos >= 0 && size != ac.pos {
		return apiErr(cobalt.EPreconditionFailed, "AppendPositionConditionNotMet", "The append position condition specified was not met.")
	}
	return nil
}

func blobSealed() error {
	return apiErr(cobalt.EConflict, "BlobIsSealed", "The specified blob is sealed, and its contents can't be modified unless the blob is re-created after a delete.")
}

// checkAppendTarget checks that b may take an append of n bytes.
func (s *Service) checkAppendTarget(req *request, b *store.BlobRecord, ac appendConds, n int64) error {
	if b.BlobType != typeAppend {
		return invalidBlobType()
	}
	if err := readConds(req.r.Header).checkWrite(true, b.ETag, b.ModifiedAt, ""); err != nil {
		return err
	}
	if err := checkLeaseWrite(b.Lease, s.now(), req.r.Header.Get("x-ms-lease-id"), kindBlob); err != nil {
		return err
	}
	if b.Sealed {
		return blobSealed()
	}
	if len(b.Extents) >= maxBlocks {
		return apiErr(cobalt.EConflict, codeBlockCountExceeded, "The committed block count cannot exceed the maximum limit of 50,000 blocks.")
	}
	return ac.check(b.Size, n)
}

func (s *Service) handleAppendBlock(req *request) error {
	if req.r.Header.Get("x-ms-copy-source") != "" {
		return s.handleAppendBlockFromURL(req)
	}
	r, t, ctx := req.r, req.t, req.r.Context()
	n, err := contentLength(r, maxAppendBytes)
	if err != nil {
		return err
	}
	if n == 0 {
		return apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget("Content-Length")
	}
	ac, err := readAppendConds(r.Header)
	if err != nil {
		return err
	}
	sums, err := readChecksums(r.Header, false)
	if err != nil {
		return err
	}
	// Fail early, before the body is read.
	cur, err := s.cfg.Store.BlobGet(ctx, t.Account, t.Container, t.Blob)
	if err != nil {
		return s.mapBlobErr(ctx, t, err)
	}
	if err := s.checkAppendTarget(req, &cur, ac, n); err != nil {
		return err
	}
	file, err := s.writeBody(r, n, sums)
	if err != nil {
		return err
	}
	if err := sums.verify(); err != nil {
		s.files.release([]string{file})
		return err
	}
	sums.setResponse(req.w.Header())
	return s.commitAppend(req, ac, file, n)
}

// commitAppend adds the data file as the append blob's next block, in one
// transaction that checks the conditions again (the file is durable first,
// so a crash leaves either the old blob or the new one).
func (s *Service) commitAppend(req *request, ac appendConds, file string, n int64) error {
	t, ctx := req.t, req.r.Context()
	etag, now := s.newETag(), s.now()
	var offset int64
	rec, rel, err := s.cfg.Store.BlobPut(ctx, t.Account, t.Container, t.Blob, func(cur *store.BlobRecord, _ []store.BlobBlock) (store.BlobRecord, error) {
		if cur == nil {
			return store.BlobRecord{}, cobalt.Errorf(cobalt.ENotFound, "blob not found")
		}
		if err := s.checkAppendTarget(req, cur, ac, n); err != nil {
			return *cur, err
		}
		nb := *cur
		offset = cur.Size
		nb.Extents = append(slices.Clone(cur.Extents), store.BlobExtent{File: file, Size: n})
		nb.ETag, nb.ModifiedAt = etag, now
		return nb, nil
	})
	if err != nil {
		s.files.release([]string{file})
		return s.mapBlobErr(ctx, t, err)
	}
	s.files.release(rel)
	h := req.w.Header()
	h.Set("ETag", quote(rec.ETag))
	h.Set("Last-Modified", httpDate(rec.ModifiedAt))
	h.Set("x-ms-blob-append-offset", itoa64(offset))
	h.Set("x-ms-blob-committed-block-count", strconv.Itoa(len(rec.Extents)))
	h.Set("x-ms-request-server-encrypted", "true")
	h.Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Service) handleSeal(req *request) error {
	t, ctx := req.t, req.r.Context()
	ac, err := readAppendConds(req.r.Header)
	if err != nil {
		return err
	}
	c := readConds(req.r.Header)
	leaseID, etag, now := req.r.Header.Get("x-ms-lease-id"), s.newETag(), s.now()
	rec, err := s.cfg.Store.BlobUpdate(ctx, t.Account, t.Container, t.Blob, func(b *store.BlobRecord) error {
		if b.BlobType != typeAppend {
			return invalidBlobType()
		}
		if err := c.checkWrite(true, b.ETag, b.ModifiedAt, ""); err != nil {
			return err
		}
		if err := checkLeaseWrite(b.Lease, now, leaseID, kindBlob); err != nil {
			return err
		}
		if err := ac.check(b.Size, 0); err != nil {
			return err
		}
		if !b.Sealed {
			b.Sealed, b.ETag, b.ModifiedAt = true, etag, now
		}
		return nil
	})
	if err != nil {
		return s.mapBlobErr(ctx, t, err)
	}
	h := req.w.Header()
	h.Set("ETag", quote(rec.ETag))
	h.Set("Last-Modified", httpDate(rec.ModifiedAt))
	h.Set("x-ms-blob-sealed", "true")
	h.Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}
