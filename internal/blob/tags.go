package blob

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Blob index tag limits.
const (
	maxTags        = 10
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

type xmlTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type xmlTags struct {
	XMLName xml.Name `xml:"Tags"`
	TagSet  []xmlTag `xml:"TagSet>Tag"`
}

func tagsXML(tags map[string]string) *xmlTags {
	x := &xmlTags{TagSet: []xmlTag{}}
	for _, k := range sortedKeys(tags) {
		x.TagSet = append(x.TagSet, xmlTag{Key: k, Value: tags[k]})
	}
	return x
}

func invalidTag() error {
	return apiErr(cobalt.EInvalid, "InvalidTag", "The tags specified are invalid. It contains characters that are not permitted.")
}

// tagChar: letters, digits, space and + - . / : = _.
func tagChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == ' ' || c == '+' || c == '-' || c == '.' || c == '/' || c == ':' || c == '=' || c == '_'
}

func validTagText(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for _, c := range s {
		if !tagChar(c) {
			return false
		}
	}
	return true
}

// checkTags validates a tag set.
func checkTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return apiErr(cobalt.EInvalid, "InvalidTag", "The number of tags exceeds the limit of 10.")
	}
	for k, v := range tags {
		if !validTagText(k, 1, maxTagKeyLen) || !validTagText(v, 0, maxTagValueLen) {
			return invalidTag()
		}
	}
	return nil
}

// parseTagsXML parses a Set Blob Tags body.
func parseTagsXML(body []byte) (map[string]string, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	var x xmlTags
	if err := d.Decode(&x); err != nil {
		return nil, invalidXML()
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, invalidXML()
	}
	var tags map[string]string
	for _, t := range x.TagSet {
		if tags == nil {
			tags = map[string]string{}
		}
		if _, dup := tags[t.Key]; dup {
			return nil, invalidTag()
		}
		tags[t.Key] = t.Value
	}
	return tags, checkTags(tags)
}

// parseTagsHeader parses x-ms-tags: URL-encoded k=v pairs joined by &.
func parseTagsHeader(v string) (map[string]string, error) {
	if v == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(v)
	if err != nil {
		return nil, invalidTag()
	}
	tags := make(map[string]string, len(q))
	for k, vs := range q {
		if len(vs) != 1 {
			return nil, invalidTag()
		}
		tags[k] = vs[0]
	}
	return tags, checkTags(tags)
}

func (s *Service) handleGetTags(req *request) error {
	t, ctx := req.t, req.r.Context()
	rec, err := s.cfg.Store.BlobGet(ctx, t.Account, t.Container, t.Blob)
	if err != nil {
		return s.mapBlobErr(ctx, t, err)
	}
	if err := checkLeaseIfGiven(rec.Lease, s.now(), req.r.Header.Get("x-ms-lease-id"), kindBlob); err != nil {
		return err
	}
	if err := s.checkIfTags(req, rec.Tags); err != nil {
		return err
	}
	return writeXML(req.w, http.StatusOK, tagsXML(rec.Tags))
}

func (s *Service) handleSetTags(req *request) error {
	t, ctx := req.t, req.r.Context()
	body, err := readSmallBody(req, 64<<10)
	if err != nil {
		return err
	}
	tags, err := parseTagsXML(body)
	if err != nil {
		return err
	}
	leaseID, now := req.r.Header.Get("x-ms-lease-id"), s.now()
	// Tags change neither the ETag nor Last-Modified.
	_, err = s.cfg.Store.BlobUpdate(ctx, t.Account, t.Container, t.Blob, func(b *store.BlobRecord) error {
		if err := checkLeaseIfGiven(b.Lease, now, leaseID, kindBlob); err != nil {
			return err
		}
		if err := s.checkIfTags(req, b.Tags); err != nil {
			return err
		}
		b.Tags = tags
		return nil
	})
	if err != nil {
		return s.mapBlobErr(ctx, t, err)
	}
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkIfTags applies x-ms-if-tags, a tag filter the blob's tags must match.
func (s *Service) checkIfTags(req *request, tags map[string]string) error {
	v := req.r.Header.Get("x-ms-if-tags")
	if v == "" {
		return nil
	}
	f, err := parseTagFilter(v)
	if err != nil {
		return apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget("x-ms-if-tags")
	}
	if _, ok := f.match(req.t.Container, tags); !ok {
		return conditionNotMet()
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
