package blob

import (
	"net/http"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func containerHeaders(h http.Header, c *store.BlobContainer) {
	h.Set("ETag", quote(c.ETag))
	h.Set("Last-Modified", httpDate(c.ModifiedAt))
}

func (s *Service) handleCreateContainer(req *request) error {
	md, err := readMetadata(req.r.Header)
	if err != nil {
		return err
	}
	access, err := readPublicAccess(req.r.Header)
	if err != nil {
		return err
	}
	now := s.now()
	c, err := s.cfg.Store.BlobContainerCreate(req.r.Context(), store.BlobContainer{
		Account: req.t.Account, Name: req.t.Container, Metadata: md, ETag: s.newETag(), CreatedAt: now, ModifiedAt: now, PublicAccess: access})
	if cobalt.IsCode(err, cobalt.EConflict) {
		return apiErr(cobalt.EConflict, codeContainerExists, "The specified container already exists.")
	}
	if err != nil {
		return err
	}
	containerHeaders(req.w.Header(), &c)
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Service) handleDeleteContainer(req *request) error {
	c := readConds(req.r.Header)
	if c.ifMatch != "" || c.ifNoneMatch != "" {
		return apiErr(cobalt.EInvalid, "UnsupportedHeader", "One of the HTTP headers specified in the request is not supported.").WithTarget("If-Match")
	}
	leaseID, now := req.r.Header.Get("x-ms-lease-id"), s.now()
	rel, err := s.cfg.Store.BlobContainerDelete(req.r.Context(), req.t.Account, req.t.Container, func(bc store.BlobContainer) error {
		if err := c.checkWrite(true, bc.ETag, bc.ModifiedAt, ""); err != nil {
			return err
		}
		return checkLeaseWrite(bc.Lease, now, leaseID, kindContainer)
	})
	if cobalt.IsCode(err, cobalt.ENotFound) && cobalt.ErrorReason(err) == "" {
		return containerNotFound()
	}
	if err != nil {
		return err
	}
	s.files.release(rel)
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Service) handleGetContainer(req *request) error {
	c, err := s.cfg.Store.BlobContainerGet(req.r.Context(), req.t.Account, req.t.Container)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return containerNotFound()
	}
	if err != nil {
		return err
	}
	if err := checkLeaseIfGiven(c.Lease, s.now(), req.r.Header.Get("x-ms-lease-id"), kindContainer); err != nil {
		return err
	}
	h := req.w.Header()
	containerHeaders(h, &c)
	writeMetadata(h, c.Metadata)
	setLeaseHeaders(h, c.Lease, s.now())
	if c.PublicAccess != "" {
		h.Set("x-ms-blob-public-access", c.PublicAccess)
	}
	h.Set("x-ms-has-immutability-policy", "false")
	h.Set("x-ms-has-legal-hold", "false")
	h.Set("x-ms-default-encryption-scope", "$account-encryption-key")
	h.Set("x-ms-deny-encryption-scope-override", "false")
	h.Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Service) handleSetContainerMetadata(req *request) error {
	md, err := readMetadata(req.r.Header)
	if err != nil {
		return err
	}
	c := readConds(req.r.Header)
	etag, now := s.newETag(), s.now()
	leaseID := req.r.Header.Get("x-ms-lease-id")
	bc, err := s.cfg.Store.BlobContainerUpdate(req.r.Context(), req.t.Account, req.t.Container, func(bc *store.BlobContainer) error {
		if !c.ims.IsZero() && !bc.ModifiedAt.Truncate(1e9).After(c.ims) {
			return conditionNotMet()
		}
		if err := checkLeaseIfGiven(bc.Lease, now, leaseID, kindContainer); err != nil {
			return err
		}
		bc.Metadata, bc.ETag, bc.ModifiedAt = md, etag, now
		return nil
	})
	if cobalt.IsCode(err, cobalt.ENotFound) && cobalt.ErrorReason(err) == "" {
		return containerNotFound()
	}
	if err != nil {
		return err
	}
	containerHeaders(req.w.Header(), &bc)
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// handleGetAccountInfo answers Get Account Information: the SKU and kind of every
// account here (tools such as AzCopy ask whether the namespace is hierarchical).
func (s *Service) handleGetAccountInfo(req *request) error {
	h := req.w.Header()
	h.Set("x-ms-sku-name", "Standard_LRS")
	h.Set("x-ms-account-kind", "StorageV2")
	h.Set("x-ms-is-hns-enabled", "false")
	h.Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}
