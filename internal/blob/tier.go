package blob

import (
	"net/http"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// accessTiers are the block blob tiers, by their lower-case names.
var accessTiers = map[string]string{"hot": "Hot", "cool": "Cool", "cold": "Cold", "archive": "Archive"}

// readTier reads a tier header ("" when absent).
func readTier(h http.Header, name string) (string, error) {
	v := h.Get(name)
	if v == "" {
		return "", nil
	}
	tier, ok := accessTiers[strings.ToLower(v)]
	if !ok {
		return "", apiErr(cobalt.EInvalid, "InvalidBlobTier", "The specified blob tier is invalid.").WithTarget(name)
	}
	return tier, nil
}

func invalidBlobType() error {
	return apiErr(cobalt.EConflict, "InvalidBlobType", "The blob type is invalid for this operation.")
}

func blobArchived() error {
	return apiErr(cobalt.EConflict, "BlobArchived", "This operation is not permitted on an archived blob.")
}

// handleSetTier records a block blob's tier. Leaving Archive would start a
// rehydration (202); Cobalt's tiers are labels, so the new tier holds at once.
func (s *Service) handleSetTier(req *request) error {
	t, ctx := req.t, req.r.Context()
	tier, err := readTier(req.r.Header, "x-ms-access-tier")
	if err != nil {
		return err
	}
	if tier == "" {
		return missingHeader("x-ms-access-tier")
	}
	leaseID, now := req.r.Header.Get("x-ms-lease-id"), s.now()
	status := http.StatusOK
	_, err = s.cfg.Store.BlobUpdate(ctx, t.Account, t.Container, t.Blob, func(b *store.BlobRecord) error {
		if b.BlobType == typeAppend {
			return invalidBlobType()
		}
		if err := checkLeaseIfGiven(b.Lease, now, leaseID, kindBlob); err != nil {
			return err
		}
		if err := s.checkIfTags(req, b.Tags); err != nil {
			return err
		}
		status = http.StatusOK
		if b.AccessTier == "Archive" && tier != "Archive" {
			status = http.StatusAccepted
		}
		if b.AccessTier != tier {
			b.AccessTier, b.TierChangedAt = tier, now
		}
		return nil
	})
	if err != nil {
		return s.mapBlobErr(ctx, t, err)
	}
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(status)
	return nil
}
