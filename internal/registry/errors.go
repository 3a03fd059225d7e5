package registry

import (
	"encoding/json"
	"io"
	"net/http"
)

// ociError is an error of the OCI Distribution Specification: a code of its
// table with the HTTP status it is sent with.
type ociError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

func (e *ociError) Error() string { return e.Code + ": " + e.Message }

func ociErr(status int, code, msg string) *ociError {
	return &ociError{Status: status, Code: code, Message: msg}
}

// The error codes of the specification (and ACR's TOOMANYREQUESTS/UNKNOWN).
func errBlobUnknown() *ociError {
	return ociErr(http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown to registry")
}
func errUploadInvalid(msg string) *ociError {
	return ociErr(http.StatusBadRequest, "BLOB_UPLOAD_INVALID", msg)
}
func errUploadUnknown() *ociError {
	return ociErr(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
}
func errDigestInvalid(msg string) *ociError {
	return ociErr(http.StatusBadRequest, "DIGEST_INVALID", msg)
}
func errManifestBlobUnknown(digest string) *ociError {
	e := ociErr(http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", "manifest references a manifest or blob unknown to registry")
	e.Detail = map[string]string{"digest": digest}
	return e
}
func errManifestInvalid(msg string) *ociError {
	return ociErr(http.StatusBadRequest, "MANIFEST_INVALID", msg)
}
func errManifestUnknown() *ociError {
	return ociErr(http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown to registry")
}
func errNameInvalid() *ociError {
	return ociErr(http.StatusBadRequest, "NAME_INVALID", "invalid repository name")
}
func errNameUnknown() *ociError {
	return ociErr(http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
}
func errSizeInvalid(msg string) *ociError { return ociErr(http.StatusBadRequest, "SIZE_INVALID", msg) }
func errUnsupported(status int, msg string) *ociError {
	return ociErr(status, "UNSUPPORTED", msg)
}
func errInternal() *ociError {
	return ociErr(http.StatusInternalServerError, "UNKNOWN", "an internal error occurred; try again")
}

// writeOCIError writes the specification's error body.
func writeOCIError(w http.ResponseWriter, e *ociError) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Del("Content-Length")
	h.Del("Docker-Content-Digest")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Errors []*ociError `json:"errors"`
	}{[]*ociError{e}})
}

// writeJSON writes a JSON body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
