package blob

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// maxRune sorts after every character of a name: prefix+maxRune skips every
// name that starts with prefix.
const maxRune = "\U0010FFFF"

func encodeMarker(after string) string {
	if after == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(after))
}

func decodeMarker(m string) (string, error) {
	if m == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || !utf8.Valid(b) {
		return "", apiErr(cobalt.EInvalid, codeInvalidQuery, "Value for one of the query parameters specified in the request URI is invalid.").WithTarget("marker")
	}
	return string(b), nil
}

func maxResults(q url.Values) (int, error) {
	v := q.Get("maxresults")
	if v == "" {
		return 5000, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, apiErr(cobalt.EInvalid, codeOutOfRangeInput, "One of the request inputs is out of range.").WithTarget("maxresults")
	}
	return min(n, 5000), nil
}

type xmlMeta map[string]string

// MarshalXML renders metadata as <Metadata><name>value</name>...</Metadata>.
func (m xmlMeta) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for k, v := range m {
		if err := e.EncodeElement(v, xml.StartElement{Name: xml.Name{Local: k}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

type xmlContainer struct {
	Name       string `xml:"Name"`
	Properties struct {
		LastModified  string `xml:"Last-Modified"`
		Etag          string `xml:"Etag"`
		LeaseStatus   string `xml:"LeaseStatus"`
		LeaseState    string `xml:"LeaseState"`
		LeaseDuration string `xml:"LeaseDuration,omitempty"`
		PublicAccess  string `xml:"PublicAccess,omitempty"`
		Immutability  bool   `xml:"HasImmutabilityPolicy"`
		LegalHold     bool   `xml:"HasLegalHold"`
	} `xml:"Properties"`
	Metadata xmlMeta `xml:"Metadata,omitempty"`
}

type xmlContainerList struct {
	XMLName         xml.Name       `xml:"EnumerationResults"`
	ServiceEndpoint string         `xml:"ServiceEndpoint,attr"`
	Prefix          string         `xml:"Prefix,omitempty"`
	Marker          string         `xml:"Marker,omitempty"`
	MaxResults      int            `xml:"MaxResults,omitempty"`
	Containers      []xmlContainer `xml:"Containers>Container"`
	NextMarker      string         `xml:"NextMarker"`
}

func (req *request) serviceEndpoint() string {
	scheme := "https"
	if req.r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + req.r.Host + "/" + req.t.Account + "/"
}

func includes(q url.Values, what string) bool {
	for _, v := range q["include"] {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), what) {
				return true
			}
		}
	}
	return false
}

func (s *Service) handleListContainers(req *request) error {
	q := req.q
	limit, err := maxResults(q)
	if err != nil {
		return err
	}
	after, err := decodeMarker(q.Get("marker"))
	if err != nil {
		return err
	}
	prefix := q.Get("prefix")
	cs, err := s.cfg.Store.BlobContainerList(req.r.Context(), req.t.Account, prefix, after, limit+1)
	if err != nil {
		return err
	}
	out := xmlContainerList{ServiceEndpoint: req.serviceEndpoint(), Prefix: prefix, Marker: q.Get("marker")}
	if q.Get("maxresults") != "" {
		out.MaxResults = limit
	}
	if len(cs) > limit {
		cs = cs[:limit]
		out.NextMarker = encodeMarker(cs[limit-1].Name)
	}
	withMeta, now := includes(q, "metadata"), s.now()
	for _, c := range cs {
		x := xmlContainer{Name: c.Name}
		x.Properties.LastModified, x.Properties.Etag = httpDate(c.ModifiedAt), quote(c.ETag)
		x.Properties.LeaseStatus, x.Properties.LeaseState, x.Properties.LeaseDuration = leaseProps(c.Lease, now)
		x.Properties.PublicAccess = c.PublicAccess
		if withMeta {
			x.Metadata = c.Metadata
		}
		out.Containers = append(out.Containers, x)
	}
	return writeXML(req.w, http.StatusOK, out)
}

type xmlName struct {
	Encoded bool   `xml:"Encoded,attr,omitempty"`
	Value   string `xml:",chardata"`
}

// nameXML escapes names that XML cannot carry, as the service does (Encoded="true").
func nameXML(n string) xmlName {
	for _, r := range n {
		if r < 0x20 && r != '\t' || r == 0xFFFE || r == 0xFFFF || r == '\r' {
			return xmlName{Encoded: true, Value: url.QueryEscape(n)}
		}
	}
	return xmlName{Value: n}
}

type xmlBlob struct {
	Name       xmlName `xml:"Name"`
	Properties struct {
		CreationTime       string `xml:"Creation-Time"`
		LastModified       string `xml:"Last-Modified"`
		Etag               string `xml:"Etag"`
		ContentLength      int64  `xml:"Content-Length"`
		ContentType        string `xml:"Content-Type"`
		ContentEncoding    string `xml:"Content-Encoding"`
		ContentLanguage    string `xml:"Content-Language"`
		ContentMD5         string `xml:"Content-MD5"`
		ContentDisposition string `xml:"Content-Disposition"`
		CacheControl       string `xml:"Cache-Control"`
		BlobType           string `xml:"BlobType"`
		AccessTier         string `xml:"AccessTier,omitempty"`
		AccessTierInferred bool   `xml:"AccessTierInferred,omitempty"`
		AccessTierChange   string `xml:"AccessTierChangeTime,omitempty"`
		LeaseStatus        string `xml:"LeaseStatus"`
		LeaseState         string `xml:"LeaseState"`
		LeaseDuration      string `xml:"LeaseDuration,omitempty"`
		CopyID             string `xml:"CopyId,omitempty"`
		CopyStatus         string `xml:"CopyStatus,omitempty"`
		CopySource         string `xml:"CopySource,omitempty"`
		CopyProgress       string `xml:"CopyProgress,omitempty"`
		CopyCompletionTime string `xml:"CopyCompletionTime,omitempty"`
		ServerEncrypted    bool   `xml:"ServerEncrypted"`
		TagCount           int    `xml:"TagCount,omitempty"`
		Sealed             bool   `xml:"Sealed,omitempty"`
	} `xml:"Properties"`
	Metadata xmlMeta  `xml:"Metadata,omitempty"`
	Tags     *xmlTags `xml:"Tags,omitempty"`
}

type xmlBlobPrefix struct {
	Name xmlName `xml:"Name"`
}

type xmlBlobList struct {
	XMLName         xml.Name `xml:"EnumerationResults"`
	ServiceEndpoint string   `xml:"ServiceEndpoint,attr"`
	ContainerName   string   `xml:"ContainerName,attr"`
	Prefix          string   `xml:"Prefix,omitempty"`
	Marker          string   `xml:"Marker,omitempty"`
	MaxResults      int      `xml:"MaxResults,omitempty"`
	Delimiter       string   `xml:"Delimiter,omitempty"`
	Blobs           struct {
		Items []any `xml:",any"`
	} `xml:"Blobs"`
	NextMarker string `xml:"NextMarker"`
}

// listIncludes are the include= options of List Blobs that change the output.
type listIncludes struct{ metadata, copy, tags bool }

func blobXML(b *store.BlobRecord, inc listIncludes, now time.Time) xmlBlob {
	x := xmlBlob{Name: nameXML(b.Name)}
	p := &x.Properties
	p.CreationTime, p.LastModified, p.Etag = httpDate(b.CreatedAt), httpDate(b.ModifiedAt), b.ETag
	p.ContentLength, p.ContentType, p.ContentEncoding, p.ContentLanguage = b.Size, b.ContentType, b.ContentEncoding, b.ContentLanguage
	if len(b.ContentMD5) > 0 {
		p.ContentMD5 = base64.StdEncoding.EncodeToString(b.ContentMD5)
	}
	p.ContentDisposition, p.CacheControl = b.ContentDisposition, b.CacheControl
	p.BlobType = blobType(b)
	if b.BlobType == typeAppend {
		p.Sealed = b.Sealed
	} else {
		p.AccessTier, p.AccessTierInferred = blobTier(b)
		if !p.AccessTierInferred && !b.TierChangedAt.IsZero() {
			p.AccessTierChange = httpDate(b.TierChangedAt)
		}
	}
	p.LeaseStatus, p.LeaseState, p.LeaseDuration = leaseProps(b.Lease, now)
	p.ServerEncrypted = true
	p.TagCount = len(b.Tags)
	if cp := b.Copy; cp != nil && inc.copy {
		p.CopyID, p.CopyStatus, p.CopySource, p.CopyProgress = cp.ID, cp.Status, cp.Source, cp.Progress
		if !cp.CompletedAt.IsZero() {
			p.CopyCompletionTime = httpDate(cp.CompletedAt)
		}
	}
	if inc.metadata {
		x.Metadata = b.Metadata
	}
	if inc.tags && len(b.Tags) > 0 {
		x.Tags = tagsXML(b.Tags)
	}
	return x
}

func (s *Service) handleListBlobs(req *request) error {
	q, ctx, t := req.q, req.r.Context(), req.t
	limit, err := maxResults(q)
	if err != nil {
		return err
	}
	after, err := decodeMarker(q.Get("marker"))
	if err != nil {
		return err
	}
	if _, err := s.cfg.Store.BlobContainerGet(ctx, t.Account, t.Container); cobalt.IsCode(err, cobalt.ENotFound) {
		return containerNotFound()
	} else if err != nil {
		return err
	}
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	inc := listIncludes{metadata: includes(q, "metadata"), copy: includes(q, "copy"), tags: includes(q, "tags")}
	now := s.now()
	// startFrom starts the listing at a name, inclusive (older versions never send it).
	from := q.Get("startFrom")
	out := xmlBlobList{ServiceEndpoint: req.serviceEndpoint(), ContainerName: t.Container, Prefix: prefix, Marker: q.Get("marker"), Delimiter: delim}
	if q.Get("maxresults") != "" {
		out.MaxResults = limit
	}
	n := 0
	more := false
outer:
	for {
		page, err := s.cfg.Store.BlobList(ctx, store.BlobListParams{Account: t.Account, Container: t.Container, Prefix: prefix, After: after, From: from, Limit: min(limit-n+1, 5000)})
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		for i := range page {
			b := &page[i]
			if n == limit {
				more = true
				break outer
			}
			if delim != "" {
				if k := strings.Index(b.Name[len(prefix):], delim); k >= 0 {
					p := b.Name[:len(prefix)+k+len(delim)]
					out.Blobs.Items = append(out.Blobs.Items, struct {
						XMLName xml.Name `xml:"BlobPrefix"`
						xmlBlobPrefix
					}{xmlBlobPrefix: xmlBlobPrefix{Name: nameXML(p)}})
					n++
					after = p + maxRune
					continue outer // skip every name under the prefix
				}
			}
			out.Blobs.Items = append(out.Blobs.Items, struct {
				XMLName xml.Name `xml:"Blob"`
				xmlBlob
			}{xmlBlob: blobXML(b, inc, now)})
			n++
			after = b.Name
		}
	}
	if more {
		out.NextMarker = encodeMarker(after)
	}
	return writeXML(req.w, http.StatusOK, out)
}

func writeXML(w http.ResponseWriter, status int, v any) error {
	body, err := xml.Marshal(v)
	if err != nil {
		return err
	}
	body = append([]byte(`<?xml version="1.0" encoding="utf-8"?>`), body...)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}
