package imds

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/cobaltbatch/cobalt"
)

// Reasons a TokenSource gives (as [cobalt.Error] Reason) for the identity
// errors that IMDS reports with its own texts. They equal the node protocol's
// error codes.
const (
	ReasonIdentityNotFound   = "IdentityNotFound"
	ReasonMultipleIdentities = "MultipleIdentities"
)

// The texts Azure's IMDS returns.
const (
	msgIdentityNotFound   = "Identity not found"
	msgMultipleIdentities = "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request"
	msgMissingResource    = "Required query variable 'resource' is missing"
	msgMissingMetadata    = "Required metadata header not specified"
	msgAPIVersion         = "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds"
	msgThrottled          = "IMDS Throttle limit reached"
	msgForwarded          = "Request contains an X-Forwarded-For header and is rejected"
	msgDuplicate          = "Requests with duplicate query parameter names are rejected"
	msgBadQuery           = "Query string is malformed"
	msgSelectors          = "Only one of client_id, object_id, msi_res_id or mi_res_id may be specified"
	msgTokenFailure       = "Failed to retrieve token from the Active directory. For details see logs in the node agent"
	msgNotFound           = "Not found"
	msgMethod             = "Method not allowed"
)

// serverHeader is what Azure's IMDS sends in Server.
const serverHeader = "IMDS/150.870.65.1544"

// identityError is the body of an error from the identity category.
type identityError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// plainError is the body of an error from the other categories.
type plainError struct {
	Error string `json:"error"`
}

// versionError is the body of an api-version error.
type versionError struct {
	Error          string   `json:"error"`
	NewestVersions []string `json:"newest-versions"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"unknown"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Server", serverHeader)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeIdentityError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, identityError{Error: code, Description: desc})
}

func writeThrottled(w http.ResponseWriter, retryAfter int, identity bool) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	if identity {
		writeIdentityError(w, http.StatusTooManyRequests, "too_many_requests", msgThrottled)
		return
	}
	writeJSON(w, http.StatusTooManyRequests, plainError{Error: msgThrottled})
}

func writeVersionError(w http.ResponseWriter) {
	writeJSON(w, http.StatusBadRequest, versionError{Error: msgAPIVersion, NewestVersions: newestVersions})
}

// writeTokenError maps a TokenSource error to the IMDS identity error table.
func writeTokenError(w http.ResponseWriter, err error) {
	switch {
	case cobalt.ErrorReason(err) == ReasonMultipleIdentities:
		writeIdentityError(w, http.StatusBadRequest, "invalid_request", msgMultipleIdentities)
	case cobalt.ErrorReason(err) == ReasonIdentityNotFound,
		cobalt.IsCode(err, cobalt.ENotFound), cobalt.IsCode(err, cobalt.EForbidden):
		writeIdentityError(w, http.StatusBadRequest, "invalid_request", msgIdentityNotFound)
	case cobalt.IsCode(err, cobalt.EInvalid):
		writeIdentityError(w, http.StatusBadRequest, "invalid_request", cobalt.ErrorMessage(err))
	case cobalt.IsCode(err, cobalt.ETooManyRequests):
		writeThrottled(w, 1, true)
	default:
		writeIdentityError(w, http.StatusInternalServerError, "unknown", msgTokenFailure)
	}
}
