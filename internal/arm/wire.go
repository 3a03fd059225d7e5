package arm

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// ErrorBody is ARM's error body (CloudErrorBody).
type ErrorBody struct {
	Code    string      `json:"code"`
	Message string      `json:"message"`
	Target  string      `json:"target,omitempty"`
	Details []ErrorBody `json:"details,omitempty"`
}

// ErrorResponse is ARM's error envelope.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// defaultReason is the ARM code of each error class without a reason.
var defaultReason = map[cobalt.Code]string{
	cobalt.ENotFound:           "ResourceNotFound",
	cobalt.EConflict:           "Conflict",
	cobalt.EInvalid:            "BadRequest",
	cobalt.EUnauthorized:       "AuthenticationFailed",
	cobalt.EForbidden:          "AuthorizationFailed",
	cobalt.EPreconditionFailed: "PreconditionFailed",
	cobalt.ETooManyRequests:    "TooManyRequests",
	cobalt.ETooLarge:           "RequestContentTooLarge",
	cobalt.EInternal:           "InternalServerError",
}

// errorBodyOf maps an error to its status and ARM body.
func errorBodyOf(err error) (int, ErrorBody) {
	code := cobalt.ErrorCode(err)
	status := errwire.HTTPStatus(code)
	reason := cobalt.ErrorReason(err)
	if reason == "" {
		reason = defaultReason[code]
	}
	var target string
	var ce *cobalt.Error
	if errors.As(err, &ce) {
		target = ce.Target
	}
	if code == cobalt.ETooLarge {
		// ARM answers an oversized body as bad request content.
		status = http.StatusBadRequest
	}
	return status, ErrorBody{Code: reason, Message: cobalt.ErrorMessage(err), Target: target}
}

func writeError(w http.ResponseWriter, _ *http.Request, err error) {
	status, body := errorBodyOf(err)
	if status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("x-ms-failure-cause", failureCause(status))
	writeJSON(w, status, "", ErrorResponse{Error: body})
}

func failureCause(status int) string {
	if status >= 500 {
		return "service"
	}
	return "gateway"
}

func writeJSON(w http.ResponseWriter, status int, etag string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"InternalServerError","message":"An internal error occurred."}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if etag != "" {
		h.Set("ETag", etag)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func etagOf(version int64) string {
	return `W/"0x` + strings.ToUpper(strconv.FormatInt(version, 16)) + `"`
}

// opaqueTag strips the weak prefix and quotes, for comparison.
func opaqueTag(t string) string {
	t = strings.TrimSpace(t)
	t = strings.TrimPrefix(t, "W/")
	t = strings.TrimPrefix(t, "w/")
	return strings.Trim(t, `"`)
}

func tagListMatches(list, current string) bool {
	if current == "" {
		return false
	}
	cur := opaqueTag(current)
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || opaqueTag(t) == cur {
			return true
		}
	}
	return false
}

func checkPreconditions(r *http.Request, current string) error {
	if im := r.Header.Get("If-Match"); im != "" {
		if !tagListMatches(im, current) {
			return cobalt.Errorf(cobalt.EPreconditionFailed, "The specified precondition 'If-Match = %s' failed.", im).
				WithReason("PreconditionFailed").WithTarget("If-Match")
		}
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if tagListMatches(inm, current) {
			return cobalt.Errorf(cobalt.EPreconditionFailed, "The specified precondition 'If-None-Match = %s' failed.", inm).
				WithReason("PreconditionFailed").WithTarget("If-None-Match")
		}
	}
	return nil
}

// decode reads r's JSON body into v (see Request.Decode).
func (s *Server) decode(r *http.Request, v any) error {
	if r.Body == nil {
		return invalidContent("", "The request content was invalid and could not be deserialized: the request body is empty.")
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBodyBytes+1))
	if err != nil {
		return invalidContent("", "The request content could not be read.")
	}
	if int64(len(b)) > s.cfg.MaxBodyBytes {
		return cobalt.Errorf(cobalt.EInvalid, "The request content size exceeds the maximum of %d bytes.", s.cfg.MaxBodyBytes).
			WithReason("RequestContentTooLarge").WithTarget("body")
	}
	return DecodeJSON(b, v)
}

// DecodeJSON decodes a JSON document into v, reporting failures as Decode does.
// Exported so that providers can decode stored or nested JSON the same way.
func DecodeJSON(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return invalidContent("", "The request content was invalid and could not be deserialized: the request body is empty.")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return decodeError(b, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidContent("", "The request content was invalid and could not be deserialized: unexpected content after the JSON value.")
	}
	return nil
}

func invalidContent(target, msg string) *cobalt.Error {
	return cobalt.Errorf(cobalt.EInvalid, "%s", msg).WithReason("InvalidRequestContent").WithTarget(target)
}

func decodeError(b []byte, err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &typ):
		target := typ.Field
		return invalidContent(target, fmt.Sprintf(
			"The request content was invalid and could not be deserialized: 'Error converting value of type %s to type %s. Path '%s', position %d.'",
			typ.Value, jsonKind(typ.Type), target, typ.Offset))
	case errors.As(err, &syn):
		line, col := position(b, syn.Offset)
		return invalidContent("", fmt.Sprintf(
			"The request content was invalid and could not be deserialized: '%s. Line %d, position %d.'", syn.Error(), line, col))
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return invalidContent("", "The request content was invalid and could not be deserialized: 'Unexpected end of content.'")
	default:
		var ce *cobalt.Error
		if errors.As(err, &ce) {
			return ce
		}
		return invalidContent("", "The request content was invalid and could not be deserialized: '"+err.Error()+"'")
	}
}

func jsonKind(t reflect.Type) string {
	if t == nil {
		return "unknown"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return t.String()
}

func position(b []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < off && i < int64(len(b)); i++ {
		if b[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// pageOf reads $skipToken and $top.
func pageOf(r *http.Request, def int) (store.Page, error) {
	q := r.URL.Query()
	p := store.Page{Limit: def, Token: q.Get("$skipToken")}
	if p.Token == "" {
		p.Token = q.Get("$skiptoken")
	}
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 {
			return p, cobalt.Errorf(cobalt.EInvalid, "The value '%s' of the query parameter '$top' is not valid; it must be a positive integer.", t).
				WithReason("InvalidQueryParameterValue").WithTarget("$top")
		}
		p.Limit = n
	}
	return p, nil
}

func nextLink(r *http.Request, token string) string {
	if token == "" {
		return ""
	}
	q := r.URL.Query()
	q.Del("$skiptoken")
	q.Set("$skipToken", token)
	u := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	if r.TLS == nil && r.Header.Get("X-Forwarded-Proto") == "http" {
		u.Scheme = "http"
	}
	return u.String()
}

type listEnvelope struct {
	Value    any    `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

func writeList(w http.ResponseWriter, r *http.Request, items any, nextToken string) {
	if items == nil || (reflect.ValueOf(items).Kind() == reflect.Slice && reflect.ValueOf(items).IsNil()) {
		items = []any{}
	}
	writeJSON(w, http.StatusOK, "", listEnvelope{Value: items, NextLink: nextLink(r, nextToken)})
}

func notFoundErr(id cobalt.ResourceID) *cobalt.Error {
	typ := id.Type()
	name := typ + "/" + strings.Join(id.Names, "/")
	if id.ResourceGroup != "" {
		return cobalt.Errorf(cobalt.ENotFound, "The Resource '%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
			name, id.ResourceGroup).WithReason("ResourceNotFound")
	}
	return cobalt.Errorf(cobalt.ENotFound, "The Resource '%s' was not found.", name).WithReason("ResourceNotFound")
}

// newGUID returns a random (version 4) GUID in lower case.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	// As fmt.Sprintf("%x-%x-%x-%x-%x", ...) would write it, without
	// fmt's reflection: one runs on every request (x-ms-request-id).
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}
