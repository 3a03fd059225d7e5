package blob

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// blockRef is one entry of a Put Block List body.
type blockRef struct {
	// Kind is "Committed", "Uncommitted" or "Latest".
	Kind string
	ID   string
}

// checkBlockID validates a block ID: base64 of at most 64 bytes.
func checkBlockID(id string) error {
	b, err := base64.StdEncoding.DecodeString(id)
	if id == "" || err != nil || len(b) > 64 {
		return apiErr(cobalt.EInvalid, codeInvalidBlockID, "The specified block ID is invalid. The block ID must be Base64-encoded and at most 64 bytes long.")
	}
	return nil
}

func invalidXML() error {
	return apiErr(cobalt.EInvalid, codeInvalidXML, "XML specified is not syntactically valid.")
}

// parseBlockList parses a Put Block List body:
// <BlockList><Latest|Committed|Uncommitted>id</...>...</BlockList>.
func parseBlockList(body []byte) ([]blockRef, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	var (
		refs  []blockRef
		depth int
		cur   *blockRef
		text  []byte
		root  bool
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, invalidXML()
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				if tk.Name.Local != "BlockList" || root {
					return nil, invalidXML()
				}
				root = true
			case 2:
				switch tk.Name.Local {
				case "Committed", "Uncommitted", "Latest":
					cur, text = &blockRef{Kind: tk.Name.Local}, text[:0]
				default:
					return nil, invalidXML()
				}
			default:
				return nil, invalidXML()
			}
		case xml.EndElement:
			if depth == 2 && cur != nil {
				cur.ID = string(text)
				if err := checkBlockID(cur.ID); err != nil {
					return nil, err
				}
				refs = append(refs, *cur)
				if len(refs) > maxBlocks {
					return nil, apiErr(cobalt.EConflict, codeBlockCountExceeded, "The committed block count cannot exceed the maximum limit of 50,000 blocks.")
				}
				cur = nil
			}
			depth--
		case xml.CharData:
			if depth == 2 {
				text = append(text, tk...)
			} else if len(bytes.TrimSpace(tk)) > 0 {
				return nil, invalidXML()
			}
		}
	}
	if !root || depth != 0 {
		return nil, invalidXML()
	}
	return refs, nil
}

func (s *Service) handlePutBlock(req *request) error {
	r, t, ctx := req.r, req.t, req.r.Context()
	id := req.q.Get("blockid")
	if id == "" {
		return apiErr(cobalt.EInvalid, "MissingRequiredQueryParameter", "A query parameter that's mandatory for this request is not specified.").WithTarget("blockid")
	}
	if err := checkBlockID(id); err != nil {
		return apiErr(cobalt.EInvalid, codeInvalidQuery, "Value for one of the query parameters specified in the request URI is invalid.").WithTarget("blockid")
	}
	if cur, err := s.cfg.Store.BlobGet(ctx, t.Account, t.Container, t.Blob); err == nil {
		if cur.BlobType == typeAppend {
			return invalidBlobType()
		}
		if err := checkLeaseWrite(cur.Lease, s.now(), r.Header.Get("x-ms-lease-id"), kindBlob); err != nil {
			return err
		}
	} else if !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	if r.Header.Get("x-ms-copy-source") != "" {
		return s.handlePutBlockFromURL(req, id)
	}
	n, err := contentLength(r, maxBlockBytes)
	if err != nil {
		return err
	}
	sums, err := readChecksums(r.Header, false)
	if err != nil {
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
	return s.stageBlock(req, id, file, n)
}

// stageBlock records a written data file as an uncommitted block (the file
// is released on failure).
func (s *Service) stageBlock(req *request, id, file string, n int64) error {
	t, ctx := req.t, req.r.Context()
	count, anyID, err := s.cfg.Store.BlobBlockCount(ctx, t.Account, t.Container, t.Blob)
	if err != nil {
		s.files.release([]string{file})
		return err
	}
	fail := func(err error) error {
		s.files.release([]string{file})
		return err
	}
	if err != nil {
		return err
	}
	if count > 0 && len(anyID) != len(id) {
		return fail(apiErr(cobalt.EInvalid, codeInvalidBlobOrBlock, "The specified blob or block content is invalid: all block IDs of a blob must have the same length."))
	}
	if count >= maxUncommitted {
		return fail(apiErr(cobalt.EConflict, codeBlockCountExceeded, "The uncommitted block count cannot exceed the maximum limit of 100,000 blocks."))
	}
	if count == 0 {
		if _, err := s.cfg.Store.BlobContainerGet(ctx, t.Account, t.Container); cobalt.IsCode(err, cobalt.ENotFound) {
			return fail(containerNotFound())
		}
	}
	if file == "" {
		// An empty block still needs a (empty) data file to reference.
		if file, err = s.files.create(bytes.NewReader(nil), 0); err != nil {
			return err
		}
	}
	rel, err := s.cfg.Store.BlobBlockPut(ctx, store.BlobBlock{Account: t.Account, Container: t.Container, Blob: t.Blob, ID: id, File: file, Size: n, CreatedAt: s.now()})
	if err != nil {
		s.files.release([]string{file})
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return containerNotFound()
		}
		return err
	}
	s.files.release(rel)
	h := req.w.Header()
	h.Set("x-ms-request-server-encrypted", "true")
	h.Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Service) handlePutBlockList(req *request) error {
	r, t, ctx := req.r, req.t, req.r.Context()
	if r.ContentLength > maxBlockListBody {
		return apiErr(cobalt.ETooLarge, codeTooLarge, "The request body is too large and exceeds the maximum permissible limit.")
	}
	sums, err := readChecksums(r.Header, false)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.TeeReader(http.MaxBytesReader(req.w, r.Body, maxBlockListBody), multi(sums.writers())))
	if err != nil {
		var me *http.MaxBytesError
		if errors.As(err, &me) {
			return apiErr(cobalt.ETooLarge, codeTooLarge, "The request body is too large and exceeds the maximum permissible limit.")
		}
		return apiErr(cobalt.EInvalid, codeIncompleteBody, "The request body is incomplete.")
	}
	if err := sums.verify(); err != nil {
		return err
	}
	refs, err := parseBlockList(body)
	if err != nil {
		return err
	}
	md, err := readMetadata(r.Header)
	if err != nil {
		return err
	}
	nb, err := newBlobFromHeaders(r.Header, md)
	if err != nil {
		return err
	}
	if nb.Tags, err = parseTagsHeader(r.Header.Get("x-ms-tags")); err != nil {
		return err
	}
	tier, err := readTier(r.Header, "x-ms-access-tier")
	if err != nil {
		return err
	}
	c := readConds(r.Header)
	nb.ETag, nb.ModifiedAt = s.newETag(), s.now()
	if tier != "" {
		nb.AccessTier, nb.TierChangedAt = tier, nb.ModifiedAt
	}
	leaseID := r.Header.Get("x-ms-lease-id")
	rec, rel, err := s.cfg.Store.BlobPut(ctx, t.Account, t.Container, t.Blob, func(cur *store.BlobRecord, blocks []store.BlobBlock) (store.BlobRecord, error) {
		if cur != nil && req.createOnly {
			return nb, permissionMismatch()
		}
		if cur == nil {
			if err := c.checkWrite(false, "", zeroTime, codeBlobExists); err != nil {
				return nb, err
			}
			if err := checkLeaseWrite(store.BlobLease{}, s.now(), leaseID, kindBlob); err != nil {
				return nb, err
			}
		} else if err := c.checkWrite(true, cur.ETag, cur.ModifiedAt, codeBlobExists); err != nil {
			return nb, err
		}
		if cur != nil {
			if cur.BlobType == typeAppend {
				return nb, invalidBlobType()
			}
			if err := checkLeaseWrite(cur.Lease, s.now(), leaseID, kindBlob); err != nil {
				return nb, err
			}
			nb.Lease = cur.Lease
		}
		uncommitted := make(map[string]store.BlobBlock, len(blocks))
		for _, b := range blocks {
			uncommitted[b.ID] = b
		}
		committed := map[string]store.BlobExtent{}
		if cur != nil {
			for _, e := range cur.Extents {
				if e.BlockID != "" {
					committed[e.BlockID] = e
				}
			}
		}
		out := nb
		out.Extents = make([]store.BlobExtent, 0, len(refs))
		for _, ref := range refs {
			var (
				e  store.BlobExtent
				ok bool
			)
			if ref.Kind != "Committed" {
				var b store.BlobBlock
				if b, ok = uncommitted[ref.ID]; ok {
					e = store.BlobExtent{BlockID: b.ID, File: b.File, Size: b.Size}
				}
			}
			if !ok && ref.Kind != "Uncommitted" {
				e, ok = committed[ref.ID]
			}
			if !ok {
				return out, apiErr(cobalt.EInvalid, codeInvalidBlockList, "The specified block list is invalid.")
			}
			out.Extents = append(out.Extents, e)
		}
		if len(out.Extents) > 0 {
			l := len(out.Extents[0].BlockID)
			for _, e := range out.Extents {
				if len(e.BlockID) != l {
					return out, apiErr(cobalt.EInvalid, codeInvalidBlockList, "The specified block list is invalid: block IDs differ in length.")
				}
			}
		}
		return out, nil
	})
	if err != nil {
		return s.mapBlobErr(ctx, t, err)
	}
	s.files.release(rel)
	h := req.w.Header()
	h.Set("ETag", quote(rec.ETag))
	h.Set("Last-Modified", httpDate(rec.ModifiedAt))
	h.Set("x-ms-request-server-encrypted", "true")
	h.Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusCreated)
	return nil
}

func multi(ws []io.Writer) io.Writer {
	if len(ws) == 0 {
		return io.Discard
	}
	return io.MultiWriter(ws...)
}

type xmlBlock struct {
	Name string `xml:"Name"`
	Size int64  `xml:"Size"`
}

type xmlBlockList struct {
	XMLName     xml.Name    `xml:"BlockList"`
	Committed   *[]xmlBlock `xml:"CommittedBlocks>Block"`
	Uncommitted *[]xmlBlock `xml:"UncommittedBlocks>Block"`
}

func (s *Service) handleGetBlockList(req *request) error {
	t, ctx := req.t, req.r.Context()
	kind := req.q.Get("blocklisttype")
	if kind == "" {
		kind = "committed"
	}
	if kind != "committed" && kind != "uncommitted" && kind != "all" {
		return apiErr(cobalt.EInvalid, codeInvalidQuery, "Value for one of the query parameters specified in the request URI is invalid.").WithTarget("blocklisttype")
	}
	rec, err := s.cfg.Store.BlobGet(ctx, t.Account, t.Container, t.Blob)
	exists := err == nil
	if err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	blocks, err := s.cfg.Store.BlobBlockList(ctx, t.Account, t.Container, t.Blob)
	if err != nil {
		return err
	}
	if !exists && len(blocks) == 0 {
		return s.blobNotFound(ctx, t)
	}
	var out xmlBlockList
	if kind != "uncommitted" {
		l := []xmlBlock{}
		if exists {
			for _, e := range rec.Extents {
				if e.BlockID != "" {
					l = append(l, xmlBlock{Name: e.BlockID, Size: e.Size})
				}
			}
		}
		out.Committed = &l
	}
	if kind != "committed" {
		l := []xmlBlock{}
		for _, b := range blocks {
			l = append(l, xmlBlock{Name: b.ID, Size: b.Size})
		}
		out.Uncommitted = &l
	}
	h := req.w.Header()
	if exists {
		h.Set("ETag", quote(rec.ETag))
		h.Set("Last-Modified", httpDate(rec.ModifiedAt))
		h.Set("x-ms-blob-content-length", itoa64(rec.Size))
	}
	return writeXML(req.w, http.StatusOK, out)
}
