package blob

import (
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// Blob error codes (the x-ms-error-code values) used by this service.
const (
	codeNoAuthInfo         = "NoAuthenticationInformation"
	codeInvalidAuthInfo    = "InvalidAuthenticationInfo"
	codeAuthFailed         = "AuthenticationFailed"
	codePermissionMismatch = "AuthorizationPermissionMismatch"
	codeAuthorizationFail  = "AuthorizationFailure"
	codeResourceTypeMism   = "AuthorizationResourceTypeMismatch"
	codeServiceMismatch    = "AuthorizationServiceMismatch"
	codeProtocolMismatch   = "AuthorizationProtocolMismatch"
	codeContainerNotFound  = "ContainerNotFound"
	codeContainerExists    = "ContainerAlreadyExists"
	codeBlobNotFound       = "BlobNotFound"
	codeBlobExists         = "BlobAlreadyExists"
	codeResourceNotFound   = "ResourceNotFound"
	codeConditionNotMet    = "ConditionNotMet"
	codeInvalidBlockList   = "InvalidBlockList"
	codeInvalidBlockID     = "InvalidBlockId"
	codeInvalidBlobOrBlock = "InvalidBlobOrBlock"
	codeInvalidHeader      = "InvalidHeaderValue"
	codeInvalidQuery       = "InvalidQueryParameterValue"
	codeMissingHeader      = "MissingRequiredHeader"
	codeMissingLength      = "MissingContentLengthHeader"
	codeTooLarge           = "RequestBodyTooLarge"
	codeInvalidRange       = "InvalidRange"
	codeInvalidResName     = "InvalidResourceName"
	codeInvalidURI         = "InvalidUri"
	codeInvalidXML         = "InvalidXmlDocument"
	codeInvalidInput       = "InvalidInput"
	codeMD5Mismatch        = "Md5Mismatch"
	codeCRC64Mismatch      = "Crc64Mismatch"
	codeUnsupportedVerb    = "UnsupportedHttpVerb"
	codeUnsupportedHeader  = "UnsupportedHeader"
	codeInternal           = "InternalError"
	codeServerBusy         = "ServerBusy"
	codeOutOfRangeInput    = "OutOfRangeInput"
	codeBlockCountExceeded = "BlockCountExceedsLimit"
	codeMetadataTooLarge   = "MetadataTooLarge"
	codeEmptyMetadataKey   = "EmptyMetadataKey"
	codeInvalidMetadata    = "InvalidMetadata"
	codeIncompleteBody     = "IncompleteBody"
)

// codeKeyAuthNotPermitted answers a key-signed request (SharedKey, account or
// service SAS) to an account whose allowSharedKeyAccess is false.
const codeKeyAuthNotPermitted = "KeyBasedAuthenticationNotPermitted"

// statusOverride gives the status of the codes whose status is not their
// class's conventional one.
var statusOverride = map[string]int{
	codeInvalidRange:    http.StatusRequestedRangeNotSatisfiable,
	codeUnsupportedVerb: http.StatusMethodNotAllowed,
	codeServerBusy:      http.StatusServiceUnavailable,
	codeMissingLength:   http.StatusLengthRequired,
}

// defaultCode names the Blob code of an error that carries no reason.
var defaultCode = map[cobalt.Code]string{
	cobalt.ENotFound:           codeResourceNotFound,
	cobalt.EConflict:           "ResourceAlreadyExists",
	cobalt.EInvalid:            codeInvalidInput,
	cobalt.EUnauthorized:       codeInvalidAuthInfo,
	cobalt.EForbidden:          codeAuthorizationFail,
	cobalt.EPreconditionFailed: codeConditionNotMet,
	cobalt.ETooManyRequests:    codeServerBusy,
	cobalt.ETooLarge:           codeTooLarge,
	cobalt.EInternal:           codeInternal,
}

// errNotModified is returned by read preconditions that call for 304.
var errNotModified = errors.New("not modified")

// apiErr returns an *cobalt.Error of class code with the Blob error code reason.
func apiErr(code cobalt.Code, reason, format string, args ...any) *cobalt.Error {
	return cobalt.Errorf(code, format, args...).WithReason(reason)
}

// authDetailError is an authentication failure with the AuthenticationErrorDetail element.
type authDetailError struct {
	err    *cobalt.Error
	detail string
}

func (e *authDetailError) Error() string { return e.err.Error() + " (" + e.detail + ")" }
func (e *authDetailError) Unwrap() error { return e.err }

func authFailed(detail string) error {
	return &authDetailError{apiErr(cobalt.EForbidden, codeAuthFailed,
		"Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature."), detail}
}

type xmlError struct {
	XMLName xml.Name `xml:"Error"`
	Code    string   `xml:"Code"`
	Message string   `xml:"Message"`
	Detail  string   `xml:"AuthenticationErrorDetail,omitempty"`
	Query   string   `xml:"QueryParameterName,omitempty"`
	Header  string   `xml:"HeaderName,omitempty"`
}

// describe maps err to its status, Blob code and message.
func describe(err error) (status int, code, msg string) {
	var e *cobalt.Error
	if !errors.As(err, &e) {
		return http.StatusInternalServerError, codeInternal, "Server encountered an internal error. Please try again after some time."
	}
	code = e.Reason
	if code == "" {
		code = defaultCode[e.Code]
		if code == "" {
			code = codeInternal
		}
	}
	status = e.Code.HTTPStatus()
	if s, ok := statusOverride[code]; ok {
		status = s
	}
	msg = e.Message
	if e.Code == cobalt.EInternal {
		msg = "Server encountered an internal error. Please try again after some time."
	}
	return status, code, msg
}

// writeError sends err as the Blob XML error with x-ms-error-code (no body for HEAD).
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := describe(err)
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "blob request failed", logkey.Method, r.Method, logkey.Path, r.URL.Path, logkey.Err, err)
	}
	h := w.Header()
	h.Set("x-ms-error-code", code)
	if code == codeNoAuthInfo || (code == codeInvalidAuthInfo && status == http.StatusUnauthorized) {
		h.Set("WWW-Authenticate", "Bearer authorization_uri="+s.cfg.AuthorityURL+"/"+s.cfg.TenantID+"/oauth2/authorize resource_id=https://storage.azure.com")
	}
	if r.Method == http.MethodHead {
		h.Del("Content-Type")
		h.Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	body := xmlError{Code: code, Message: msg + "\nRequestId:" + h.Get("x-ms-request-id") + "\nTime:" + cobalt.FormatTime(s.now())}
	var ad *authDetailError
	if errors.As(err, &ad) {
		body.Detail = ad.detail
	}
	var e *cobalt.Error
	if errors.As(err, &e) && e.Target != "" {
		switch code {
		case codeInvalidQuery:
			body.Query = e.Target
		case codeInvalidHeader, codeMissingHeader, codeUnsupportedHeader:
			body.Header = e.Target
		}
	}
	out, _ := xml.Marshal(body)
	out = append([]byte(xml.Header[:len(xml.Header)-1]), out...)
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

func httpDate(t time.Time) string { return cobalt.FormatHTTPDate(t) }
