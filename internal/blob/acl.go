package blob

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// maxPolicies is the most stored access policies a container may hold.
const maxPolicies = 5

type xmlAccessPolicy struct {
	Start      string `xml:"Start,omitempty"`
	Expiry     string `xml:"Expiry,omitempty"`
	Permission string `xml:"Permission,omitempty"`
}

type xmlSignedIdentifier struct {
	ID           string          `xml:"Id"`
	AccessPolicy xmlAccessPolicy `xml:"AccessPolicy"`
}

type xmlSignedIdentifiers struct {
	XMLName     xml.Name              `xml:"SignedIdentifiers"`
	Identifiers []xmlSignedIdentifier `xml:"SignedIdentifier"`
}

// policyPerms are the permission letters a container's stored access policy may grant.
const policyPerms = "racwdxltmeopfi"

// parseACL parses a Set Container ACL body into stored access policies (an
// empty body clears them). Times are normalized to ISO 8601 with seven
// fractional digits, as the service returns them.
func parseACL(body []byte) ([]store.BlobAccessPolicy, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	var x xmlSignedIdentifiers
	if err := d.Decode(&x); err != nil {
		return nil, invalidXML()
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, invalidXML()
	}
	if len(x.Identifiers) > maxPolicies {
		return nil, apiErr(cobalt.EInvalid, codeInvalidXML, "XML specified is not syntactically valid: at most 5 signed identifiers are allowed.")
	}
	out := make([]store.BlobAccessPolicy, 0, len(x.Identifiers))
	seen := map[string]bool{}
	for _, si := range x.Identifiers {
		if si.ID == "" || len(si.ID) > 64 || seen[si.ID] {
			return nil, invalidXML()
		}
		seen[si.ID] = true
		p := store.BlobAccessPolicy{ID: si.ID, Permission: si.AccessPolicy.Permission}
		for _, c := range p.Permission {
			if !strings.ContainsRune(policyPerms, c) {
				return nil, invalidXML()
			}
		}
		for _, f := range []struct {
			in  string
			out *string
		}{{si.AccessPolicy.Start, &p.Start}, {si.AccessPolicy.Expiry, &p.Expiry}} {
			if f.in == "" {
				continue
			}
			ts, ok := parseSASTime(strings.TrimSpace(f.in))
			if !ok {
				return nil, invalidXML()
			}
			*f.out = ts.UTC().Format("2006-01-02T15:04:05.0000000Z")
		}
		out = append(out, p)
	}
	return out, nil
}

func aclXML(ps []store.BlobAccessPolicy) xmlSignedIdentifiers {
	x := xmlSignedIdentifiers{Identifiers: []xmlSignedIdentifier{}}
	for _, p := range ps {
		x.Identifiers = append(x.Identifiers, xmlSignedIdentifier{ID: p.ID, AccessPolicy: xmlAccessPolicy{Start: p.Start, Expiry: p.Expiry, Permission: p.Permission}})
	}
	return x
}

// readPublicAccess reads x-ms-blob-public-access: "", "blob" or "container".
func readPublicAccess(h http.Header) (string, error) {
	switch v := h.Get("x-ms-blob-public-access"); v {
	case "", "blob", "container":
		return v, nil
	}
	return "", apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget("x-ms-blob-public-access")
}

func (s *Service) handleGetACL(req *request) error {
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
	if c.PublicAccess != "" {
		h.Set("x-ms-blob-public-access", c.PublicAccess)
	}
	if req.r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		req.w.WriteHeader(http.StatusOK)
		return nil
	}
	return writeXML(req.w, http.StatusOK, aclXML(c.Policies))
}

func (s *Service) handleSetACL(req *request) error {
	access, err := readPublicAccess(req.r.Header)
	if err != nil {
		return err
	}
	body, err := readSmallBody(req, 64<<10)
	if err != nil {
		return err
	}
	policies, err := parseACL(body)
	if err != nil {
		return err
	}
	c := readConds(req.r.Header)
	if c.ifMatch != "" || c.ifNoneMatch != "" {
		return apiErr(cobalt.EInvalid, codeUnsupportedHeader, "One of the HTTP headers specified in the request is not supported.").WithTarget("If-Match")
	}
	leaseID, etag, now := req.r.Header.Get("x-ms-lease-id"), s.newETag(), s.now()
	bc, err := s.cfg.Store.BlobContainerUpdate(req.r.Context(), req.t.Account, req.t.Container, func(bc *store.BlobContainer) error {
		if err := c.checkWrite(true, bc.ETag, bc.ModifiedAt, ""); err != nil {
			return err
		}
		if err := checkLeaseIfGiven(bc.Lease, now, leaseID, kindContainer); err != nil {
			return err
		}
		bc.PublicAccess, bc.Policies, bc.ETag, bc.ModifiedAt = access, policies, etag, now
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

// readSmallBody reads a request body of at most max bytes.
func readSmallBody(req *request, max int64) ([]byte, error) {
	if req.r.ContentLength > max {
		return nil, apiErr(cobalt.ETooLarge, codeTooLarge, "The request body is too large and exceeds the maximum permissible limit.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(req.w, req.r.Body, max))
	if err != nil {
		var me *http.MaxBytesError
		if errors.As(err, &me) {
			return nil, apiErr(cobalt.ETooLarge, codeTooLarge, "The request body is too large and exceeds the maximum permissible limit.")
		}
		return nil, apiErr(cobalt.EInvalid, codeIncompleteBody, "The request body is incomplete.")
	}
	return body, nil
}

// loadPolicy finds the stored access policy a service SAS names with si.
func (s *Service) loadPolicy(req *request, tok *sasToken) error {
	if req.t.Container == "" {
		return authFailed("A signed identifier (si) needs a container.")
	}
	c, err := s.cfg.Store.BlobContainerGet(req.r.Context(), req.t.Account, req.t.Container)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return authFailed("The signed identifier " + tok.Identifier + " does not exist.")
	}
	if err != nil {
		return err
	}
	for i := range c.Policies {
		if c.Policies[i].ID == tok.Identifier {
			tok.policy = &c.Policies[i]
			return nil
		}
	}
	return authFailed("The signed identifier " + tok.Identifier + " does not exist.")
}

// authorizeAnonymous admits a request without credentials only as a public
// read: a blob read in a container of public access "blob" or "container",
// a listing or container read only with "container".
func (s *Service) authorizeAnonymous(req *request) error {
	noAuth := apiErr(cobalt.EUnauthorized, codeNoAuthInfo, "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.")
	var need string
	switch req.op {
	case opGetBlob, opGetBlobMDOnly, opGetBlockList:
		need = "blob"
	case opListBlobs, opGetContainer:
		need = "container"
	default:
		return noAuth
	}
	c, err := s.cfg.Store.BlobContainerGet(req.r.Context(), req.t.Account, req.t.Container)
	if err != nil {
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return noAuth
		}
		return err
	}
	if c.PublicAccess == "container" || c.PublicAccess == need {
		return nil
	}
	return noAuth
}

func (s *Service) handleUnsupportedContainerComp(req *request) error {
	if _, err := s.cfg.Store.BlobContainerGet(req.r.Context(), req.t.Account, req.t.Container); cobalt.IsCode(err, cobalt.ENotFound) {
		return containerNotFound()
	} else if err != nil {
		return err
	}
	return unsupportedComp(req.q.Get("comp"))
}
