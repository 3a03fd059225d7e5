package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
)

// The manifest media types a registry stores.
const (
	mtOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mtOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// maxManifestBytes bounds a manifest, as the specification suggests (4 MiB).
const maxManifestBytes = 4 << 20

// descriptor is a content descriptor.
type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// manifestDoc holds the fields of image manifests and indexes a registry reads.
type manifestDoc struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *descriptor       `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Manifests     []descriptor      `json:"manifests"`
	Subject       *descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// parsedManifest is a validated manifest.
type parsedManifest struct {
	MediaType string
	Doc       manifestDoc
	// Index is true for indexes and manifest lists.
	Index bool
}

// blobRefs are the blobs an image manifest needs (config and layers, not
// the non-distributable layers).
func (m *parsedManifest) blobRefs() []descriptor {
	if m.Index {
		return nil
	}
	out := []descriptor{*m.Doc.Config}
	for _, l := range m.Doc.Layers {
		if strings.Contains(l.MediaType, "nondistributable") || strings.Contains(l.MediaType, ".foreign.") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// artifactType is the type the referrers API lists for the manifest.
func (m *parsedManifest) artifactType() string {
	if m.Doc.ArtifactType != "" || m.Index || m.Doc.Config == nil {
		return m.Doc.ArtifactType
	}
	return m.Doc.Config.MediaType
}

// parseManifest validates a manifest of the given Content-Type: one of the
// four stored media types (an absent Content-Type takes the document's
// mediaType), JSON of the right shape, valid descriptors.
func parseManifest(contentType string, body []byte) (*parsedManifest, error) {
	mt := ""
	if contentType != "" {
		t, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return nil, errors.New("invalid Content-Type")
		}
		mt = t
	}
	if !json.Valid(body) {
		return nil, errors.New("the manifest is not valid JSON")
	}
	var d manifestDoc
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("the manifest does not have the shape of its media type: %v", err)
	}
	if mt == "" {
		mt = d.MediaType
	}
	if d.MediaType != "" && d.MediaType != mt {
		return nil, errors.New("the manifest's mediaType does not match the Content-Type")
	}
	if d.SchemaVersion == nil || *d.SchemaVersion != 2 {
		return nil, errors.New("schemaVersion must be 2")
	}
	m := &parsedManifest{MediaType: mt, Doc: d}
	switch mt {
	case mtOCIManifest, mtDockerManifest:
		if d.Config == nil {
			return nil, errors.New("an image manifest needs a config")
		}
		if d.Manifests != nil {
			return nil, errors.New("an image manifest has no manifests")
		}
		if mt == mtDockerManifest && d.MediaType == "" {
			return nil, errors.New("a Docker manifest must name its mediaType")
		}
		if err := checkDescriptor(*d.Config); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		for i, l := range d.Layers {
			if err := checkDescriptor(l); err != nil {
				return nil, fmt.Errorf("layers[%d]: %w", i, err)
			}
		}
	case mtOCIIndex, mtDockerList:
		m.Index = true
		if d.Manifests == nil {
			return nil, errors.New("an index needs manifests")
		}
		if d.Config != nil || d.Layers != nil {
			return nil, errors.New("an index has no config or layers")
		}
		if mt == mtDockerList && d.MediaType == "" {
			return nil, errors.New("a Docker manifest list must name its mediaType")
		}
		for i, c := range d.Manifests {
			if err := checkDescriptor(c); err != nil {
				return nil, fmt.Errorf("manifests[%d]: %w", i, err)
			}
		}
	default:
		return nil, fmt.Errorf("unsupported manifest media type %q", mt)
	}
	if d.Subject != nil {
		if err := checkDescriptor(*d.Subject); err != nil {
			return nil, fmt.Errorf("subject: %w", err)
		}
	}
	return m, nil
}

func checkDescriptor(d descriptor) error {
	if d.MediaType == "" {
		return errors.New("mediaType is required")
	}
	if _, err := parseDigest(d.Digest); err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	if d.Size < 0 {
		return errors.New("size must not be negative")
	}
	return nil
}
