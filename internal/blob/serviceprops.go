package blob

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// The Blob service properties document (Get/Set Blob Service Properties).
// Cobalt records the settings and returns them; it acts on none of them
// (no logs, metrics, CORS or static website are served).
type xmlRetention struct {
	Enabled bool `xml:"Enabled" json:"enabled"`
	Days    *int `xml:"Days,omitempty" json:"days,omitempty"`
}

type xmlLogging struct {
	Version         string        `xml:"Version" json:"version"`
	Delete          bool          `xml:"Delete" json:"delete"`
	Read            bool          `xml:"Read" json:"read"`
	Write           bool          `xml:"Write" json:"write"`
	RetentionPolicy *xmlRetention `xml:"RetentionPolicy" json:"retentionPolicy"`
}

type xmlMetrics struct {
	Version         string        `xml:"Version,omitempty" json:"version,omitempty"`
	Enabled         bool          `xml:"Enabled" json:"enabled"`
	IncludeAPIs     *bool         `xml:"IncludeAPIs,omitempty" json:"includeAPIs,omitempty"`
	RetentionPolicy *xmlRetention `xml:"RetentionPolicy,omitempty" json:"retentionPolicy,omitempty"`
}

type xmlCorsRule struct {
	AllowedOrigins  string `xml:"AllowedOrigins" json:"allowedOrigins"`
	AllowedMethods  string `xml:"AllowedMethods" json:"allowedMethods"`
	AllowedHeaders  string `xml:"AllowedHeaders" json:"allowedHeaders"`
	ExposedHeaders  string `xml:"ExposedHeaders" json:"exposedHeaders"`
	MaxAgeInSeconds int    `xml:"MaxAgeInSeconds" json:"maxAgeInSeconds"`
}

type xmlStaticWebsite struct {
	Enabled              bool   `xml:"Enabled" json:"enabled"`
	IndexDocument        string `xml:"IndexDocument,omitempty" json:"indexDocument,omitempty"`
	ErrorDocument404Path string `xml:"ErrorDocument404Path,omitempty" json:"errorDocument404Path,omitempty"`
	DefaultIndexDocPath  string `xml:"DefaultIndexDocumentPath,omitempty" json:"defaultIndexDocumentPath,omitempty"`
}

type xmlServiceProps struct {
	XMLName               xml.Name          `xml:"StorageServiceProperties" json:"-"`
	Logging               *xmlLogging       `xml:"Logging,omitempty" json:"logging,omitempty"`
	HourMetrics           *xmlMetrics       `xml:"HourMetrics,omitempty" json:"hourMetrics,omitempty"`
	MinuteMetrics         *xmlMetrics       `xml:"MinuteMetrics,omitempty" json:"minuteMetrics,omitempty"`
	Cors                  *[]xmlCorsRule    `xml:"Cors>CorsRule" json:"cors,omitempty"`
	DefaultServiceVersion string            `xml:"DefaultServiceVersion,omitempty" json:"defaultServiceVersion,omitempty"`
	DeleteRetentionPolicy *xmlRetention     `xml:"DeleteRetentionPolicy,omitempty" json:"deleteRetentionPolicy,omitempty"`
	StaticWebsite         *xmlStaticWebsite `xml:"StaticWebsite,omitempty" json:"staticWebsite,omitempty"`
}

// defaultServiceProps is what an account reports before any Set.
func defaultServiceProps() xmlServiceProps {
	off := func() *xmlRetention { return &xmlRetention{} }
	f := false
	return xmlServiceProps{
		Logging:               &xmlLogging{Version: "1.0", RetentionPolicy: off()},
		HourMetrics:           &xmlMetrics{Version: "1.0", Enabled: false, RetentionPolicy: off()},
		MinuteMetrics:         &xmlMetrics{Version: "1.0", Enabled: false, IncludeAPIs: nil, RetentionPolicy: off()},
		Cors:                  &[]xmlCorsRule{},
		DeleteRetentionPolicy: &xmlRetention{},
		StaticWebsite:         &xmlStaticWebsite{Enabled: f},
	}
}

func invalidServiceProps() error {
	return apiErr(cobalt.EInvalid, codeInvalidXML, "XML specified is not syntactically valid.")
}

// parseServiceProps parses a Set Blob Service Properties body and checks its ranges.
func parseServiceProps(body []byte) (xmlServiceProps, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	var p xmlServiceProps
	if err := d.Decode(&p); err != nil {
		return p, invalidServiceProps()
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return p, invalidServiceProps()
	}
	days := func(r *xmlRetention) error {
		if r == nil {
			return nil
		}
		if r.Enabled && (r.Days == nil || *r.Days < 1 || *r.Days > 365) {
			return apiErr(cobalt.EInvalid, codeInvalidXML, "XML specified is not syntactically valid: retention days must be 1 to 365.")
		}
		return nil
	}
	for _, r := range []*xmlRetention{p.DeleteRetentionPolicy} {
		if err := days(r); err != nil {
			return p, err
		}
	}
	if p.Logging != nil {
		if err := days(p.Logging.RetentionPolicy); err != nil {
			return p, err
		}
	}
	for _, m := range []*xmlMetrics{p.HourMetrics, p.MinuteMetrics} {
		if m != nil {
			if err := days(m.RetentionPolicy); err != nil {
				return p, err
			}
		}
	}
	if p.Cors != nil {
		if len(*p.Cors) > 5 {
			return p, apiErr(cobalt.EInvalid, codeInvalidXML, "XML specified is not syntactically valid: at most 5 CORS rules are allowed.")
		}
		for _, c := range *p.Cors {
			if c.AllowedOrigins == "" || c.AllowedMethods == "" || c.MaxAgeInSeconds < 0 {
				return p, invalidServiceProps()
			}
		}
	}
	if v := p.DefaultServiceVersion; v != "" && !validVersion(v) {
		return p, invalidServiceProps()
	}
	return p, nil
}

// loadServiceProps returns the account's properties (the defaults if never set).
func (s *Service) loadServiceProps(req *request) (xmlServiceProps, error) {
	p := defaultServiceProps()
	raw, err := s.cfg.Store.BlobServiceGet(req.r.Context(), req.t.Account)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, err
	}
	return p, nil
}

func (s *Service) handleGetServiceProps(req *request) error {
	p, err := s.loadServiceProps(req)
	if err != nil {
		return err
	}
	return writeXML(req.w, http.StatusOK, p)
}

// handleSetServiceProps merges the elements the body gives into the
// account's properties (an element left out keeps its setting, as in Azure).
func (s *Service) handleSetServiceProps(req *request) error {
	body, err := readSmallBody(req, 64<<10)
	if err != nil {
		return err
	}
	in, err := parseServiceProps(body)
	if err != nil {
		return err
	}
	cur, err := s.loadServiceProps(req)
	if err != nil {
		return err
	}
	if in.Logging != nil {
		cur.Logging = in.Logging
	}
	if in.HourMetrics != nil {
		cur.HourMetrics = in.HourMetrics
	}
	if in.MinuteMetrics != nil {
		cur.MinuteMetrics = in.MinuteMetrics
	}
	if in.Cors != nil {
		cur.Cors = in.Cors
	}
	if in.DefaultServiceVersion != "" {
		cur.DefaultServiceVersion = in.DefaultServiceVersion
	}
	if in.DeleteRetentionPolicy != nil {
		cur.DeleteRetentionPolicy = in.DeleteRetentionPolicy
	}
	if in.StaticWebsite != nil {
		cur.StaticWebsite = in.StaticWebsite
	}
	raw, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.BlobServiceSet(req.r.Context(), req.t.Account, store.BlobServiceProps(raw)); err != nil {
		return err
	}
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusAccepted)
	return nil
}

type xmlServiceStats struct {
	XMLName        xml.Name `xml:"StorageServiceStats"`
	GeoReplication struct {
		Status       string `xml:"Status"`
		LastSyncTime string `xml:"LastSyncTime"`
	} `xml:"GeoReplication"`
}

// handleServiceStats answers Get Blob Service Stats: Cobalt keeps one copy,
// so replication is always live and in sync as of now.
func (s *Service) handleServiceStats(req *request) error {
	var out xmlServiceStats
	out.GeoReplication.Status = "live"
	out.GeoReplication.LastSyncTime = httpDate(s.now())
	return writeXML(req.w, http.StatusOK, out)
}
