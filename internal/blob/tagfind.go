package blob

import (
	"bytes"
	"encoding/xml"
	"net/http"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

type xmlFilterBlob struct {
	Name          string   `xml:"Name"`
	ContainerName string   `xml:"ContainerName"`
	Tags          *xmlTags `xml:"Tags,omitempty"`
}

type xmlFilterResults struct {
	XMLName         xml.Name        `xml:"EnumerationResults"`
	ServiceEndpoint string          `xml:"ServiceEndpoint,attr"`
	Where           string          `xml:"Where"`
	Blobs           []xmlFilterBlob `xml:"Blobs>Blob"`
	NextMarker      string          `xml:"NextMarker"`
}

// handleFindBlobs answers Find Blobs by Tags on the account or one
// container by walking the blobs in (container, name) order.
func (s *Service) handleFindBlobs(req *request) error {
	q, ctx, t := req.q, req.r.Context(), req.t
	where := q.Get("where")
	f, err := parseTagFilter(where)
	if err != nil {
		return err
	}
	limit, err := maxResults(q)
	if err != nil {
		return err
	}
	marker, err := decodeMarker(q.Get("marker"))
	if err != nil {
		return err
	}
	afterC, afterB, _ := cutNUL(marker)
	var containers []string
	if t.Container != "" {
		if _, err := s.cfg.Store.BlobContainerGet(ctx, t.Account, t.Container); cobalt.IsCode(err, cobalt.ENotFound) {
			return containerNotFound()
		} else if err != nil {
			return err
		}
		containers = []string{t.Container}
	}
	out := xmlFilterResults{ServiceEndpoint: req.serviceEndpoint(), Where: where}
	nextContainer := func(after string) (string, bool, error) {
		if containers != nil {
			if after < containers[0] {
				return containers[0], true, nil
			}
			return "", false, nil
		}
		cs, err := s.cfg.Store.BlobContainerList(ctx, t.Account, "", after, 1)
		if err != nil || len(cs) == 0 {
			return "", false, err
		}
		return cs[0].Name, true, nil
	}
	cont := afterC
	if afterB == "" && afterC != "" {
		// The marker names a container finished.
		afterB = maxRune
	}
	if cont == "" {
		var ok bool
		if cont, ok, err = nextContainer(""); err != nil || !ok {
			return s.writeFind(req, out, err)
		}
	}
	for {
		page, err := s.cfg.Store.BlobList(ctx, store.BlobListParams{Account: t.Account, Container: cont, After: afterB, Limit: 1000})
		if err != nil {
			return err
		}
		for i := range page {
			b := &page[i]
			afterB = b.Name
			matched, ok := f.match(cont, b.Tags)
			if !ok {
				continue
			}
			if len(out.Blobs) == limit {
				last := out.Blobs[len(out.Blobs)-1]
				out.NextMarker = encodeMarker(last.ContainerName + "\x00" + last.Name)
				return s.writeFind(req, out, nil)
			}
			x := xmlFilterBlob{Name: b.Name, ContainerName: cont}
			if len(matched) > 0 {
				x.Tags = tagsXML(matched)
			}
			out.Blobs = append(out.Blobs, x)
		}
		if len(page) == 1000 {
			continue
		}
		next, ok, err := nextContainer(cont)
		if err != nil {
			return err
		}
		if !ok {
			return s.writeFind(req, out, nil)
		}
		cont, afterB = next, ""
	}
}

func cutNUL(s string) (string, string, bool) {
	if i := bytes.IndexByte([]byte(s), 0); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

func (s *Service) writeFind(req *request, out xmlFilterResults, err error) error {
	if err != nil {
		return err
	}
	if out.Blobs == nil {
		out.Blobs = []xmlFilterBlob{}
	}
	return writeXML(req.w, http.StatusOK, out)
}
