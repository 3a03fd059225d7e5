package batchapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/jobs"
	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// API versions.
const (
	// APIVersionGo is what azbatch v0.1.0 sends.
	APIVersionGo = "2024-07-01.20.0"
	// APIVersionNode is what @azure/batch 10.2.0 sends.
	APIVersionNode = "2022-10-01.16.0"
	// APIVersionLatest is the newest stable data-plane version.
	APIVersionLatest = "2025-06-01.21.0"
)

// SupportedAPIVersions lists every api-version the data plane accepts.
var SupportedAPIVersions = []string{APIVersionNode, APIVersionGo, APIVersionLatest}

// jsonContentType is the content type of every JSON response, as Batch sends it.
const jsonContentType = "application/json;odata=minimalmetadata"

// httpDate formats t for Last-Modified, ocp-date and ocp-creation-time:
// always GMT, so that Go's time.Parse(time.RFC1123, ...) reads it.
func httpDate(t time.Time) string { return cobalt.FormatHTTPDate(t) }

// jsonTime formats t as Batch does in bodies: RFC3339 with 7 fractional digits.
func jsonTime(t time.Time) string { return cobalt.FormatTime(t) }

// Batch error codes used by this package.
const (
	codeMissingQuery       = "MissingRequiredQueryParameter"
	codeInvalidQuery       = "InvalidQueryParameterValue"
	codeUnsupportedVersion = "UnsupportedRequestVersion"
	codeInvalidBody        = "InvalidRequestBody"
	codeMissingProperty    = "MissingRequiredProperty"
	codeInvalidProperty    = "InvalidPropertyValue"
	codeUnsupportedProp    = "UnsupportedProperty"
	codeBodyTooLarge       = "RequestBodyTooLarge"
	codeAuthFailed         = "AuthenticationFailed"
	codeAuthzFailed        = "AuthorizationFailure"
	codeConditionNotMet    = "ConditionNotMet"
	codeInvalidHeader      = "InvalidHeaderValue"
	codeNotFound           = "ResourceNotFound"
	codeInvalidState       = "OperationInvalidForCurrentState"
	codeInternal           = "InternalError"
	codeInvalidURI         = "InvalidUri"
	codeMethodNotAllowed   = "UnsupportedHttpVerb"
	// The file API's codes.
	codeInvalidFilePath      = "InvalidFilePath"
	codeFileNotFound         = "FileNotFound"
	codeTaskFilesUnavailable = "TaskFilesUnavailable"
	codeTaskFilesCleanedUp   = "TaskFilesCleanedup"
	codeDirNotEmpty          = "DirectoryNotEmpty"
)

// Batch error codes whose status is not their class's.
const (
	codeNotImplemented = "NotImplemented"
	codeServerBusy     = "ServerBusy"
	codeInvalidRange   = "InvalidRange"
	codeAccountMissing = "AccountNotFound"
)

// defaultReason maps an error class to Batch's code when the error carries no
// protocol reason of its own. This is the one table from cobalt.Code to the
// Batch wire format.
var defaultReason = map[cobalt.Code]string{
	cobalt.ENotFound:           codeNotFound,
	cobalt.EConflict:           codeInvalidState,
	cobalt.EInvalid:            codeInvalidProperty,
	cobalt.EUnauthorized:       codeAuthFailed,
	cobalt.EForbidden:          codeAuthzFailed,
	cobalt.EPreconditionFailed: codeConditionNotMet,
	cobalt.ETooManyRequests:    "TooManyRequests",
	cobalt.ETooLarge:           codeBodyTooLarge,
	cobalt.EInternal:           codeInternal,
}

// classStatus is the HTTP status of each error class on the Batch data plane.
// EUnauthorized is 401, the answer to a request without acceptable
// credentials (with a bearer challenge); a SharedKey request whose signature
// fails is EForbidden with reason AuthenticationFailed, 403, as on Batch.
var classStatus = map[cobalt.Code]int{
	cobalt.ENotFound:           http.StatusNotFound,
	cobalt.EConflict:           http.StatusConflict,
	cobalt.EInvalid:            http.StatusBadRequest,
	cobalt.EUnauthorized:       http.StatusUnauthorized,
	cobalt.EForbidden:          http.StatusForbidden,
	cobalt.EPreconditionFailed: http.StatusPreconditionFailed,
	cobalt.ETooManyRequests:    http.StatusTooManyRequests,
	cobalt.ETooLarge:           http.StatusRequestEntityTooLarge,
	cobalt.EInternal:           http.StatusInternalServerError,
}

// reasonStatus overrides the class status for reasons whose Batch status
// has no class of its own.
var reasonStatus = map[string]int{
	codeBodyTooLarge:     http.StatusRequestEntityTooLarge,
	codeMethodNotAllowed: http.StatusMethodNotAllowed,
	codeNotImplemented:   http.StatusNotImplemented,
	codeServerBusy:       http.StatusServiceUnavailable,
	codeInvalidRange:     http.StatusRequestedRangeNotSatisfiable,
}

// jobReasons names the jobs service's conditions in Batch's codes.
var jobReasons = []struct {
	cond   error
	reason string
}{
	{jobs.ErrJobNotFound, "JobNotFound"},
	{jobs.ErrTaskNotFound, "TaskNotFound"},
	{jobs.ErrJobExists, "JobExists"},
	{jobs.ErrTaskExists, "TaskExists"},
	{jobs.ErrJobCompleted, "JobCompleted"},
	{jobs.ErrTaskCompleted, "TaskCompleted"},
	{jobs.ErrJobNotActive, "JobNotActive"},
	{jobs.ErrJobNotDisabled, "JobNotDisabled"},
	{jobs.ErrJobBeingDeleted, "JobBeingDeleted"},
	{jobs.ErrJobBeingTerminated, "JobBeingTerminated"},
	{jobs.ErrDependenciesNotOnJob, "TaskDependenciesNotSpecifiedOnJob"},
	{jobs.ErrDependencyListTooLong, "TaskDependencyListTooLong"},
	{jobs.ErrDependencyRangesTooLong, "TaskDependencyRangesTooLong"},
	{jobs.ErrMissingProperty, codeMissingProperty},
	{jobs.ErrUnsupported, codeUnsupportedProp},
}

// domainReason returns the Batch code of the service condition err
// matches, or "".
func domainReason(err error) string {
	for _, r := range append(jobReasons, scheduleReasons...) {
		if errors.Is(err, r.cond) {
			return r.reason
		}
	}
	return ""
}

// keyValue is one entry of a Batch error's values.
type keyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// errorMessage is a Batch error message.
type errorMessage struct {
	Lang  string `json:"lang"`
	Value string `json:"value"`
}

// errorBody is Batch's error body: code, message and values at the top level.
type errorBody struct {
	ODataMetadata string       `json:"odata.metadata,omitempty"`
	Code          string       `json:"code"`
	Message       errorMessage `json:"message"`
	Values        []keyValue   `json:"values,omitempty"`
}

// batchError returns a *cobalt.Error with a Batch code; kv are alternating
// keys and values of the error's details (Batch's "values").
func batchError(class cobalt.Code, reason, msg string, kv ...string) *cobalt.Error {
	e := &cobalt.Error{Code: class, Reason: reason, Message: msg}
	for i := 0; i+1 < len(kv); i += 2 {
		e.Details = append(e.Details, cobalt.NameValue{Name: kv[i], Value: kv[i+1]})
	}
	return e
}

// errNotModified answers a conditional read whose entity did not change: 304
// with no body.
var errNotModified = batchError(cobalt.EPreconditionFailed, codeConditionNotMet, "Not modified.")

// invalidQuery is Batch's 400 for a bad query parameter.
func invalidQuery(name, value, reason string) *cobalt.Error {
	return batchError(cobalt.EInvalid, codeInvalidQuery,
		"Value for one of the query parameters specified in the request URI is invalid.",
		"QueryParameterName", name, "QueryParameterValue", truncate(value, 200), "Reason", reason)
}

// invalidBody is Batch's 400 for a body that is not valid JSON.
func invalidBody(reason string) *cobalt.Error {
	return batchError(cobalt.EInvalid, codeInvalidBody,
		"The specified Request Body is not syntactically valid.", "Reason", reason)
}

// missingProperty is Batch's 400 for a missing required property.
func missingProperty(name string) *cobalt.Error {
	return batchError(cobalt.EInvalid, codeMissingProperty,
		"A required property was not specified in the request body.", "PropertyName", name)
}

// invalidProperty is Batch's 400 for a property with a bad value.
func invalidProperty(name, value, reason string) *cobalt.Error {
	e := batchError(cobalt.EInvalid, codeInvalidProperty,
		"The value provided for one of the properties in the request body is invalid.",
		"PropertyName", name)
	if value != "" {
		e.Details = append(e.Details, cobalt.NameValue{Name: "PropertyValue", Value: truncate(value, 200)})
	}
	if reason != "" {
		e.Details = append(e.Details, cobalt.NameValue{Name: "Reason", Value: reason})
	}
	return e
}

// notFound is the 404 for a missing entity of the given kind ("pool", "job", ...).
func notFound(kind string) *cobalt.Error {
	code := map[string]string{"pool": "PoolNotFound", "job": "JobNotFound", "task": "TaskNotFound",
		"node": "NodeNotFound", "file": codeFileNotFound}[kind]
	if code == "" {
		code = codeNotFound
	}
	return batchError(cobalt.ENotFound, code, "The specified "+kind+" does not exist.")
}

// wireError is an error as the Batch wire shows it.
type wireError struct {
	Status int
	Code   string
	Msg    string
	Values []keyValue
}

// toWireError maps any error to the Batch wire: the code is the error's
// reason or its class's default, the status its reason's or its class's, the
// values its target and details.
func toWireError(err error) wireError {
	if errors.Is(err, errNotModified) {
		return wireError{Status: http.StatusNotModified, Code: codeConditionNotMet, Msg: errNotModified.Message}
	}
	class := cobalt.ErrorCode(err)
	code := cobalt.ErrorReason(err)
	if code == "" {
		code = domainReason(err)
	}
	if code == "" {
		code = defaultReason[class]
	}
	if code == "" {
		code = codeInternal
	}
	status, ok := reasonStatus[code]
	if !ok {
		if status, ok = classStatus[class]; !ok {
			status = http.StatusInternalServerError
		}
	}
	e := wireError{Status: status, Code: code, Msg: cobalt.ErrorMessage(err)}
	var ce *cobalt.Error
	if errors.As(err, &ce) {
		if ce.Target != "" {
			key := "PropertyName"
			if class == cobalt.ENotFound || class == cobalt.EConflict {
				key = "Target"
			}
			e.Values = append(e.Values, keyValue{key, ce.Target})
		}
		for _, d := range ce.Details {
			e.Values = append(e.Values, keyValue{d.Name, d.Value})
		}
	}
	return e
}

// writeError writes err as a Batch error response. HEAD responses carry only
// the headers: azcore reads x-ms-error-code first, so HEAD still tells the code.
func (rc *reqCtx) writeError(err error) {
	e := toWireError(err)
	if e.Status == http.StatusNotModified {
		rc.w.WriteHeader(e.Status)
		return
	}
	if e.Status >= 500 {
		rc.s.log.ErrorContext(rc.r.Context(), "batch request failed", logkey.Method, rc.r.Method,
			logkey.Path, rc.r.URL.Path, logkey.RequestID, rc.requestID, logkey.Err, err)
	}
	h := rc.w.Header()
	h.Set("x-ms-error-code", e.Code)
	h.Set("Content-Type", jsonContentType)
	body := errorBody{
		ODataMetadata: rc.baseURL() + "/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
		Code:          e.Code,
		Message: errorMessage{Lang: "en-US", Value: e.Msg + "\nRequestId:" + rc.requestID +
			"\nTime:" + jsonTime(rc.s.now())},
		Values: e.Values,
	}
	b, _ := json.Marshal(body)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	rc.w.WriteHeader(e.Status)
	if rc.r.Method != http.MethodHead {
		_, _ = rc.w.Write(b)
	}
}

// writeJSON writes v as a JSON response with the given status.
func (rc *reqCtx) writeJSON(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		rc.writeError(fmt.Errorf("encode response: %w", err))
		return
	}
	rc.writeRaw(status, b)
}

// writeRaw writes an already encoded JSON body.
func (rc *reqCtx) writeRaw(status int, b []byte) {
	h := rc.w.Header()
	h.Set("Content-Type", jsonContentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	rc.w.WriteHeader(status)
	if rc.r.Method != http.MethodHead {
		_, _ = rc.w.Write(b)
	}
}

// writeEmpty writes a response with no body.
func (rc *reqCtx) writeEmpty(status int) {
	if status != http.StatusNoContent {
		rc.w.Header().Set("Content-Length", "0")
	}
	rc.w.WriteHeader(status)
}

// setEntityHeaders sets ETag, Last-Modified and DataServiceId for an entity.
func (rc *reqCtx) setEntityHeaders(etag string, lastModified time.Time, url string) {
	h := rc.w.Header()
	if etag != "" {
		h.Set("ETag", etag)
	}
	if !lastModified.IsZero() {
		h.Set("Last-Modified", httpDate(lastModified))
	}
	if url != "" {
		h.Set("DataServiceId", url)
	}
}

// Body size limits.
const (
	// maxBody bounds every request body but add task collection.
	maxBody = 4 << 20
	// maxCollectionBody is Batch's limit for add task collection (< 1 MB).
	maxCollectionBody = 1 << 20
	// maxCollectionTasks is Batch's limit of tasks per add task collection.
	maxCollectionTasks = 100
)

// readBody reads the request body up to limit bytes; a larger body is 413
// RequestBodyTooLarge.
func (rc *reqCtx) readBody(limit int64) ([]byte, error) {
	if rc.r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	b, err := io.ReadAll(io.LimitReader(rc.r.Body, limit+1))
	if err != nil {
		return nil, invalidBody("The request body could not be read.")
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(limit)
	}
	return b, nil
}

func tooLarge(limit int64) *cobalt.Error {
	return batchError(cobalt.ETooLarge, codeBodyTooLarge,
		"The request body is too large and exceeds the maximum permissible limit.",
		"MaxLimit", strconv.FormatInt(limit, 10))
}

// decodeJSON decodes a request body into v. Unknown properties are ignored
// (newer clients add properties); malformed JSON is InvalidRequestBody with
// the reason in values; an empty body is allowed only when optional is set.
func (rc *reqCtx) decodeJSON(limit int64, v any, optional bool) error {
	b, err := rc.readBody(limit)
	if err != nil {
		return err
	}
	return decodeBody(b, v, optional)
}

// decodeBody decodes b into v with Batch's error mapping.
func decodeBody(b []byte, v any, optional bool) error {
	if len(bytes.TrimSpace(b)) == 0 {
		if optional {
			return nil
		}
		return invalidBody("The request body is empty.")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return invalidProperty(te.Field, "", "The value has the wrong JSON type: expected "+te.Type.String()+".")
		}
		return invalidBody(truncate(err.Error(), 300))
	}
	if dec.More() {
		return invalidBody("Unexpected data after the JSON value.")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// lowerASCII lowercases s.
func lowerASCII(s string) string { return strings.ToLower(s) }
