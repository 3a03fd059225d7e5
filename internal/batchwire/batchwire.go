package batchwire

import "github.com/cobaltbatch/cobalt"

// NameValue is a name and value pair: metadata, environment settings.
type NameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// NameValues converts name and value pairs; nil stays nil.
func NameValues(nv []cobalt.NameValue) []NameValue { return mapSlice(nv, nameValueFrom) }

// IdentityReference names a pool identity by ARM resource ID
// (ComputeNodeIdentityReference).
type IdentityReference struct {
	ResourceID string `json:"resourceId"`
}

// IdentityRef converts an identity reference; nil stays nil.
func IdentityRef(r *cobalt.IdentityReference) *IdentityReference {
	if r == nil {
		return nil
	}
	return &IdentityReference{ResourceID: r.ResourceID}
}

// ResourceFile is a file a node downloads before a start task or task runs.
type ResourceFile struct {
	AutoStorageContainerName string             `json:"autoStorageContainerName,omitempty"`
	StorageContainerURL      string             `json:"storageContainerUrl,omitempty"`
	HTTPURL                  string             `json:"httpUrl,omitempty"`
	BlobPrefix               string             `json:"blobPrefix,omitempty"`
	FilePath                 string             `json:"filePath,omitempty"`
	FileMode                 string             `json:"fileMode,omitempty"`
	IdentityReference        *IdentityReference `json:"identityReference,omitempty"`
}

// ResourceFiles converts resource files; nil stays nil.
func ResourceFiles(rfs []cobalt.ResourceFile) []ResourceFile {
	if rfs == nil {
		return nil
	}
	out := make([]ResourceFile, len(rfs))
	for i, r := range rfs {
		out[i] = ResourceFile{AutoStorageContainerName: r.AutoStorageContainerName, StorageContainerURL: r.StorageContainerURL,
			HTTPURL: r.HTTPURL, BlobPrefix: r.BlobPrefix, FilePath: r.FilePath, FileMode: r.FileMode, IdentityReference: IdentityRef(r.IdentityReference)}
	}
	return out
}

// UserAccount is a pool's named user, without its password.
type UserAccount struct {
	Name                     string                    `json:"name"`
	ElevationLevel           string                    `json:"elevationLevel,omitempty"`
	LinuxUserConfiguration   *LinuxUserConfiguration   `json:"linuxUserConfiguration,omitempty"`
	WindowsUserConfiguration *WindowsUserConfiguration `json:"windowsUserConfiguration,omitempty"`
}

// LinuxUserConfiguration is a user account's Linux settings.
type LinuxUserConfiguration struct {
	UID           *int   `json:"uid,omitempty"`
	GID           *int   `json:"gid,omitempty"`
	SSHPrivateKey string `json:"sshPrivateKey,omitempty"`
}

// WindowsUserConfiguration is a user account's Windows settings.
type WindowsUserConfiguration struct {
	LoginMode string `json:"loginMode,omitempty"`
}

// UserAccounts converts user accounts, leaving out their passwords; enum
// spells the enumerations elevationLevel and loginMode for the plane. nil
// stays nil.
func UserAccounts(us []cobalt.UserAccount, enum func(key, v string) string) []UserAccount {
	if us == nil {
		return nil
	}
	out := make([]UserAccount, len(us))
	for i, u := range us {
		out[i] = UserAccount{Name: u.Name, ElevationLevel: enum("elevationLevel", string(u.ElevationLevel))}
		if l := u.LinuxUserConfiguration; l != nil {
			out[i].LinuxUserConfiguration = &LinuxUserConfiguration{UID: l.UID, GID: l.GID, SSHPrivateKey: l.SSHPrivateKey}
		}
		if w := u.WindowsUserConfiguration; w != nil {
			out[i].WindowsUserConfiguration = &WindowsUserConfiguration{LoginMode: enum("loginMode", w.LoginMode)}
		}
	}
	return out
}
