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
	"github.com/cobaltbatch/cobalt/internal/errwire"
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

// rfc1123 is the date format of Last-Modified, ocp-date and ocp-creation-time:
// always GMT, so that Go's time.Parse(time.RFC1123, ...) reads it.
const rfc1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

// httpDate formats t for a header.
func httpDate(t time.Time) string { return t.UTC().Format(rfc1123) }

// jsonTime formats t as Batch does in bodies: RFC3339 with 7 fractional digits.
func jsonTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

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

// reasonStatus overrides the class status for reasons whose Batch status
// differs from the class default.
var reasonStatus = map[string]int{
	codeAuthFailed:   http.StatusForbidden,
	codeAuthzFailed:  http.StatusForbidden,
	codeBodyTooLarge: http.StatusRequestEntityTooLarge,
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

// apiError is an error with Batch's details: the status and the values list.
// Handlers build them with newError; every other error is mapped through
// defaultReason.
type apiError struct {
	Status int
	Code   string
	Msg    string
	Values []keyValue
	// Header holds extra response headers (WWW-Authenticate).
	Header http.Header
}

func (e *apiError) Error() string { return e.Code + ": " + e.Msg }

// newError returns an apiError; kv are alternating keys and values.
func newError(status int, code, msg string, kv ...string) *apiError {
	e := &apiError{Status: status, Code: code, Msg: msg}
	for i := 0; i+1 < len(kv); i += 2 {
		e.Values = append(e.Values, keyValue{Key: kv[i], Value: kv[i+1]})
	}
	return e
}

// invalidQuery is Batch's 400 for a bad query parameter.
func invalidQuery(name, value, reason string) *apiError {
	return newError(http.StatusBadRequest, codeInvalidQuery,
		"Value for one of the query parameters specified in the request URI is invalid.",
		"QueryParameterName", name, "QueryParameterValue", truncate(value, 200), "Reason", reason)
}

// invalidBody is Batch's 400 for a body that is not valid JSON.
func invalidBody(reason string) *apiError {
	return newError(http.StatusBadRequest, codeInvalidBody,
		"The specified Request Body is not syntactically valid.", "Reason", reason)
}

// missingProperty is Batch's 400 for a missing required property.
func missingProperty(name string) *apiError {
	return newError(http.StatusBadRequest, codeMissingProperty,
		"A required property was not specified in the request body.", "PropertyName", name)
}

// invalidProperty is Batch's 400 for a property with a bad value.
func invalidProperty(name, value, reason string) *apiError {
	e := newError(http.StatusBadRequest, codeInvalidProperty,
		"The value provided for one of the properties in the request body is invalid.",
		"PropertyName", name)
	if value != "" {
		e.Values = append(e.Values, keyValue{"PropertyValue", truncate(value, 200)})
	}
	if reason != "" {
		e.Values = append(e.Values, keyValue{"Reason", reason})
	}
	return e
}

// notFound is the 404 for a missing entity of the given kind ("pool", "job", ...).
func notFound(kind string) *apiError {
	code := map[string]string{"pool": "PoolNotFound", "job": "JobNotFound", "task": "TaskNotFound",
		"node": "NodeNotFound", "file": "FileNotFound"}[kind]
	if code == "" {
		code = codeNotFound
	}
	return newError(http.StatusNotFound, code, "The specified "+kind+" does not exist.")
}

// toAPIError converts any error to the Batch shape.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	class := cobalt.ErrorCode(err)
	code := cobalt.ErrorReason(err)
	if code == "" {
		code = defaultReason[class]
	}
	if code == "" {
		code = codeInternal
	}
	status := errwire.HTTPStatus(class)
	if s, ok := reasonStatus[code]; ok {
		status = s
	}
	e := &apiError{Status: status, Code: code, Msg: cobalt.ErrorMessage(err)}
	var ce *cobalt.Error
	if errors.As(err, &ce) && ce.Target != "" {
		key := "PropertyName"
		if class == cobalt.ENotFound || class == cobalt.EConflict {
			key = "Target"
		}
		e.Values = append(e.Values, keyValue{key, ce.Target})
	}
	return e
}

// writeError writes err as a Batch error response. HEAD responses carry only
// the headers: azcore reads x-ms-error-code first, so HEAD still tells the code.
func (rc *reqCtx) writeError(err error) {
	e := toAPIError(err)
	if e.Status == http.StatusNotModified {
		rc.w.WriteHeader(e.Status)
		return
	}
	if e.Status >= 500 {
		rc.s.log.ErrorContext(rc.r.Context(), "batch request failed", "method", rc.r.Method,
			"path", rc.r.URL.Path, "request_id", rc.requestID, "err", err)
	}
	h := rc.w.Header()
	for k, v := range e.Header {
		h[k] = v
	}
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

func tooLarge(limit int64) *apiError {
	return newError(http.StatusRequestEntityTooLarge, codeBodyTooLarge,
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
