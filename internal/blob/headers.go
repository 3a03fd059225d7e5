package blob

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// crc64Table is Azure Storage's CRC-64 (the polynomial the SDKs use).
var crc64Table = crc64.MakeTable(0x9A6C9329AC4BC9B5)

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// quote returns the ETag header form.
func quote(etag string) string { return `"` + etag + `"` }

// conds holds a request's conditional headers.
type conds struct {
	ifMatch, ifNoneMatch string
	ims, ius             time.Time
}

func readConds(h http.Header) conds {
	c := conds{ifMatch: h.Get("If-Match"), ifNoneMatch: h.Get("If-None-Match")}
	if v := h.Get("If-Modified-Since"); v != "" {
		c.ims, _ = cobalt.ParseHTTPDate(v)
	}
	if v := h.Get("If-Unmodified-Since"); v != "" {
		c.ius, _ = cobalt.ParseHTTPDate(v)
	}
	return c
}

// etagIn reports whether etag is in the comma-separated list (or the list is "*").
func etagIn(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		e = strings.TrimPrefix(e, "W/")
		if e == "*" || strings.Trim(e, `"`) == etag {
			return true
		}
	}
	return false
}

func conditionNotMet() error {
	return apiErr(cobalt.EPreconditionFailed, codeConditionNotMet, "The condition specified using HTTP conditional header(s) is not met.")
}

// checkRead applies the conditions to a read of an existing resource:
// errNotModified calls for 304, ConditionNotMet for 412.
func (c conds) checkRead(etag string, mod time.Time) error {
	mod = mod.Truncate(time.Second)
	if c.ifMatch != "" && !etagIn(c.ifMatch, etag) {
		return conditionNotMet()
	}
	if c.ifMatch == "" && !c.ius.IsZero() && mod.After(c.ius) {
		return conditionNotMet()
	}
	if c.ifNoneMatch != "" {
		if etagIn(c.ifNoneMatch, etag) {
			return errNotModified
		}
	} else if !c.ims.IsZero() && !mod.After(c.ims) {
		return errNotModified
	}
	return nil
}

// checkWrite applies the conditions to a write; exists tells whether the
// resource exists (etag and mod are then its current values).
func (c conds) checkWrite(exists bool, etag string, mod time.Time, existsCode string) error {
	mod = mod.Truncate(time.Second)
	if c.ifMatch != "" && (!exists || !etagIn(c.ifMatch, etag)) {
		return conditionNotMet()
	}
	if exists && !c.ius.IsZero() && mod.After(c.ius) {
		return conditionNotMet()
	}
	if c.ifNoneMatch != "" && exists && etagIn(c.ifNoneMatch, etag) {
		if strings.TrimSpace(c.ifNoneMatch) == "*" && existsCode != "" {
			return apiErr(cobalt.EConflict, existsCode, "The specified blob already exists.")
		}
		return conditionNotMet()
	}
	if exists && !c.ims.IsZero() && !mod.After(c.ims) {
		return conditionNotMet()
	}
	return nil
}

// parseRange reads x-ms-range (preferred) or Range. ok is false for a full read.
func parseRange(h http.Header, size int64) (start, length int64, ok bool, err error) {
	v, hdr := h.Get("x-ms-range"), "x-ms-range"
	if v == "" {
		v, hdr = h.Get("Range"), "Range"
	}
	if v == "" {
		return 0, size, false, nil
	}
	spec, found := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	a, b, dash := strings.Cut(spec, "-")
	if !found || !dash || strings.Contains(spec, ",") {
		if hdr == "Range" {
			return 0, size, false, nil // an unusable Range header is ignored
		}
		return 0, 0, false, apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget(hdr)
	}
	bad := func() (int64, int64, bool, error) {
		return 0, 0, false, apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget(hdr)
	}
	if a == "" { // suffix range: the last b bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return bad()
		}
		if size == 0 {
			return 0, 0, false, invalidRange()
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	s, err := strconv.ParseInt(a, 10, 64)
	if err != nil || s < 0 {
		return bad()
	}
	e := size - 1
	if b != "" {
		e, err = strconv.ParseInt(b, 10, 64)
		if err != nil || e < s {
			return bad()
		}
	}
	if s >= size {
		return 0, 0, false, invalidRange()
	}
	e = min(e, size-1)
	return s, e - s + 1, true, nil
}

func invalidRange() error {
	return apiErr(cobalt.EInvalid, codeInvalidRange, "The range specified is invalid for the current size of the resource.")
}

// metaPrefix is the metadata header prefix.
const metaPrefix = "x-ms-meta-"

// readMetadata collects x-ms-meta-* headers (names lower case, as Go
// canonicalizes header names and the SDKs fold them anyway).
func readMetadata(h http.Header) (map[string]string, error) {
	var m map[string]string
	total := 0
	for k, v := range h {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, metaPrefix) {
			continue
		}
		name := lk[len(metaPrefix):]
		if name == "" {
			return nil, apiErr(cobalt.EInvalid, codeEmptyMetadataKey, "The key for one of the metadata key-value pairs is empty.")
		}
		if !validMetaName(name) {
			return nil, apiErr(cobalt.EInvalid, codeInvalidMetadata, "The metadata specified is invalid. It has characters that are not permitted.")
		}
		if m == nil {
			m = map[string]string{}
		}
		m[name] = strings.Join(v, ",")
		total += len(name) + len(m[name])
	}
	if total > 8<<10 {
		return nil, apiErr(cobalt.EInvalid, codeMetadataTooLarge, "The size of the specified metadata exceeds the maximum size permitted.")
	}
	return m, nil
}

// validMetaName: a C# identifier (letters, digits, underscores; not starting with a digit).
func validMetaName(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func writeMetadata(h http.Header, m map[string]string) {
	for k, v := range m {
		h[metaPrefix+k] = []string{v}
	}
}

// checksums are the optional transactional checksums a request asks to verify.
type checksums struct {
	md5, crc []byte
	md5h     hash.Hash
	crch     hash.Hash64
	forceMD5 bool
}

// readChecksums reads Content-MD5 and x-ms-content-crc64; computeMD5 asks for
// the MD5 even when the client sent none.
func readChecksums(h http.Header, computeMD5 bool) (*checksums, error) {
	c := &checksums{forceMD5: computeMD5}
	if v := h.Get("Content-MD5"); v != "" {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b) != md5.Size {
			return nil, apiErr(cobalt.EInvalid, codeInvalidHeader, "The MD5 value specified in the request is invalid. The MD5 value must be 128 bits and Base64-encoded.").WithTarget("Content-MD5")
		}
		c.md5 = b
	}
	if v := h.Get("x-ms-content-crc64"); v != "" {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b) != 8 {
			return nil, apiErr(cobalt.EInvalid, codeInvalidHeader, "The CRC64 value specified in the request is invalid. The CRC64 value must be 64 bits and Base64-encoded.").WithTarget("x-ms-content-crc64")
		}
		c.crc = b
	}
	if h.Get("x-ms-structured-body") != "" {
		return nil, apiErr(cobalt.EInvalid, codeUnsupportedHeader, "Structured message bodies are not supported by this service.").WithTarget("x-ms-structured-body")
	}
	if c.md5 != nil || c.forceMD5 {
		c.md5h = md5.New()
	}
	if c.crc != nil {
		c.crch = crc64.New(crc64Table)
	}
	return c, nil
}

func (c *checksums) writers() []io.Writer {
	var out []io.Writer
	if c.md5h != nil {
		out = append(out, c.md5h)
	}
	if c.crch != nil {
		out = append(out, c.crch)
	}
	return out
}

// verify compares the computed sums with those sent.
func (c *checksums) verify() error {
	if c.md5 != nil && string(c.md5h.Sum(nil)) != string(c.md5) {
		return apiErr(cobalt.EInvalid, codeMD5Mismatch, "The MD5 value specified in the request did not match with the MD5 value calculated by the server.")
	}
	if c.crc != nil && string(c.crcSum()) != string(c.crc) {
		return apiErr(cobalt.EInvalid, codeCRC64Mismatch, "The CRC64 value specified in the request did not match with the CRC64 value calculated by the server.")
	}
	return nil
}

func (c *checksums) crcSum() []byte {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], c.crch.Sum64())
	return b[:]
}

// setResponse echoes the computed sums.
func (c *checksums) setResponse(h http.Header) {
	if c.md5h != nil {
		h.Set("Content-MD5", base64.StdEncoding.EncodeToString(c.md5h.Sum(nil)))
	}
	if c.crch != nil {
		h.Set("x-ms-content-crc64", base64.StdEncoding.EncodeToString(c.crcSum()))
	}
}

// setBlobHeaders writes a blob's properties as response headers.
func setBlobHeaders(h http.Header, b *store.BlobRecord, now time.Time) {
	h.Set("ETag", quote(b.ETag))
	h.Set("Last-Modified", httpDate(b.ModifiedAt))
	h.Set("x-ms-creation-time", httpDate(b.CreatedAt))
	h.Set("x-ms-blob-type", blobType(b))
	setLeaseHeaders(h, b.Lease, now)
	h.Set("x-ms-server-encrypted", "true")
	if b.BlobType == typeAppend {
		h.Set("x-ms-blob-committed-block-count", strconv.Itoa(len(b.Extents)))
		if b.Sealed {
			h.Set("x-ms-blob-sealed", "true")
		}
	} else {
		tier, inferred := blobTier(b)
		h.Set("x-ms-access-tier", tier)
		if inferred {
			h.Set("x-ms-access-tier-inferred", "true")
		} else if !b.TierChangedAt.IsZero() {
			h.Set("x-ms-access-tier-change-time", httpDate(b.TierChangedAt))
		}
	}
	if len(b.Tags) > 0 {
		h.Set("x-ms-tag-count", strconv.Itoa(len(b.Tags)))
	}
	if cp := b.Copy; cp != nil {
		h.Set("x-ms-copy-id", cp.ID)
		h.Set("x-ms-copy-source", cp.Source)
		h.Set("x-ms-copy-status", cp.Status)
		h.Set("x-ms-copy-progress", cp.Progress)
		if !cp.CompletedAt.IsZero() {
			h.Set("x-ms-copy-completion-time", httpDate(cp.CompletedAt))
		}
	}
	h.Set("Accept-Ranges", "bytes")
	ct := b.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	for k, v := range map[string]string{"Content-Encoding": b.ContentEncoding, "Content-Language": b.ContentLanguage,
		"Content-Disposition": b.ContentDisposition, "Cache-Control": b.CacheControl} {
		if v != "" {
			h.Set(k, v)
		}
	}
	writeMetadata(h, b.Metadata)
}

// Blob types.
const (
	typeBlock  = "BlockBlob"
	typeAppend = "AppendBlob"
)

func blobType(b *store.BlobRecord) string {
	if b.BlobType == "" {
		return typeBlock
	}
	return b.BlobType
}

// blobTier returns a block blob's tier and whether it is inferred (never set).
func blobTier(b *store.BlobRecord) (string, bool) {
	if b.AccessTier == "" {
		return "Hot", true
	}
	return b.AccessTier, false
}

// zeroTime is the modification time of an absent resource.
var zeroTime time.Time
