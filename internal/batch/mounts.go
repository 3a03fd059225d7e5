package batch

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// mountRecord is one entry of a pool's mountConfiguration (the same names in
// both planes). Only azureBlobFileSystemConfiguration is served.
type mountRecord struct {
	AzureBlob *struct {
		AccountName       string                   `json:"accountName"`
		ContainerName     string                   `json:"containerName"`
		AccountKey        string                   `json:"accountKey"`
		SASKey            string                   `json:"sasKey"`
		BlobfuseOptions   string                   `json:"blobfuseOptions"`
		RelativeMountPath string                   `json:"relativeMountPath"`
		IdentityReference *identityReferenceRecord `json:"identityReference"`
	} `json:"azureBlobFileSystemConfiguration"`
	NFS            json.RawMessage `json:"nfsMountConfiguration"`
	CIFS           json.RawMessage `json:"cifsMountConfiguration"`
	AzureFileShare json.RawMessage `json:"azureFileShareConfiguration"`
}

// validateMounts checks a pool's mountConfiguration: blob container file
// systems with an identity reference or a SAS, each at its own relative
// path under the node's mounts directory. File shares, NFS and CIFS, and
// mounts with an account key, are refused: a node would not mount them.
func validateMounts(p *Pool, ps paths) error {
	if p.MountConfiguration == nil {
		return nil
	}
	base := ps.of("properties.mountConfiguration", "mountConfiguration")
	var mounts []mountRecord
	if err := jsonUnmarshal(p.MountConfiguration, &mounts); err != nil {
		return invalidValue(base, "The mount configuration is not a list of mount configurations.")
	}
	seen := map[string]bool{}
	for i, m := range mounts {
		at := fmt.Sprintf("%s[%d]", base, i)
		switch {
		case m.NFS != nil || m.CIFS != nil || m.AzureFileShare != nil:
			return invalidValue(at, "Cobalt mounts Azure Blob containers only (azureBlobFileSystemConfiguration); NFS, CIFS and Azure Files shares are not supported.")
		case m.AzureBlob == nil:
			return missing(at + ".azureBlobFileSystemConfiguration")
		}
		b := m.AzureBlob
		at += ".azureBlobFileSystemConfiguration"
		if !validStorageAccountName(b.AccountName) {
			return invalidValue(at+".accountName", "The storage account name '%s' is not valid.", trunc(b.AccountName))
		}
		if b.ContainerName == "" {
			return missing(at + ".containerName")
		}
		rel := b.RelativeMountPath
		if rel == "" {
			return missing(at + ".relativeMountPath")
		}
		if path.IsAbs(rel) || path.Clean(rel) != rel || rel == "." || strings.HasPrefix(rel, "..") || strings.ContainsAny(rel, "\\\x00") {
			return invalidValue(at+".relativeMountPath", "The relative mount path '%s' must be a relative path below the node's mounts directory.", trunc(rel))
		}
		if seen[rel] {
			return invalidValue(at+".relativeMountPath", "Two mounts use the relative mount path '%s'.", trunc(rel))
		}
		seen[rel] = true
		n := 0
		for _, set := range []bool{b.AccountKey != "", b.SASKey != "", b.IdentityReference != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return invalidValue(at, "Exactly one of accountKey, sasKey and identityReference must be given.")
		}
		if b.AccountKey != "" {
			return invalidValue(at+".accountKey", "Cobalt mounts blob containers with an identityReference or a sasKey; accountKey is not supported.")
		}
	}
	return nil
}

// validStorageAccountName: 3 to 24 lower-case letters and digits.
func validStorageAccountName(s string) bool {
	if len(s) < 3 || len(s) > 24 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// nodeMounts is what a node needs of the pool's blob mounts: each
// container's URL on the installation's blob endpoint.
func (s *Service) nodeMounts(p *Pool) []nodeproto.BlobMount {
	var mounts []mountRecord
	if p.MountConfiguration == nil || jsonUnmarshal(p.MountConfiguration, &mounts) != nil {
		return nil
	}
	var out []nodeproto.BlobMount
	for _, m := range mounts {
		b := m.AzureBlob
		if b == nil {
			continue
		}
		u := strings.TrimSuffix(s.cfg.BlobEndpoint, "/") + "/" + b.AccountName + "/" + b.ContainerName
		if sas := strings.TrimPrefix(b.SASKey, "?"); sas != "" {
			u += "?" + sas
		}
		bm := nodeproto.BlobMount{AccountName: b.AccountName, ContainerName: b.ContainerName, ContainerURL: u, RelativeMountPath: b.RelativeMountPath}
		if b.IdentityReference != nil {
			bm.IdentityResourceID = b.IdentityReference.ResourceID
		}
		out = append(out, bm)
	}
	return out
}
