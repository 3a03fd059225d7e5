package cobalt

import (
	"errors"
	"fmt"
	"net/http"
)

// Code classifies an error independently of any wire protocol. Each protocol
// (ARM, Batch, Blob, OAuth, IMDS) maps a Code to its own status and body.
type Code string

// The error classes. Their HTTP statuses are given by [Code.HTTPStatus].
const (
	ENotFound           Code = "NotFound"
	EConflict           Code = "Conflict"
	EInvalid            Code = "Invalid"
	EUnauthorized       Code = "Unauthorized"
	EForbidden          Code = "Forbidden"
	EPreconditionFailed Code = "PreconditionFailed"
	ETooManyRequests    Code = "TooManyRequests"
	ETooLarge           Code = "TooLarge"
	EInternal           Code = "Internal"
)

var codeStatus = map[Code]int{
	ENotFound:           http.StatusNotFound,
	EConflict:           http.StatusConflict,
	EInvalid:            http.StatusBadRequest,
	EUnauthorized:       http.StatusUnauthorized,
	EForbidden:          http.StatusForbidden,
	EPreconditionFailed: http.StatusPreconditionFailed,
	ETooManyRequests:    http.StatusTooManyRequests,
	ETooLarge:           http.StatusRequestEntityTooLarge,
	EInternal:           http.StatusInternalServerError,
}

// HTTPStatus returns the HTTP status that conventionally carries the code.
func (c Code) HTTPStatus() int {
	if s, ok := codeStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is the error type of every Cobalt service. Code is the class; Reason is
// the protocol's own error code when one is known (for example
// "ResourceGroupNotFound", "PoolExists", "AuthorizationPermissionMismatch"); Target
// names the offending property or parameter, if any.
type Error struct {
	Code    Code
	Reason  string
	Message string
	Target  string
	// Details are further facts about the error, in the order a protocol
	// lists them (Batch's "values", for example "QueryParameterValue").
	Details []NameValue
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("%s: %s", e.Reason, e.Message)
	}
	return e.Message
}

// Errorf returns an *Error of the given class with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithReason returns a copy of e with the protocol-specific reason set.
func (e *Error) WithReason(reason string) *Error {
	c := *e
	c.Reason = reason
	return &c
}

// WithTarget returns a copy of e with the target set.
func (e *Error) WithTarget(target string) *Error {
	c := *e
	c.Target = target
	return &c
}

// WithDetail returns a copy of e with one more detail.
func (e *Error) WithDetail(name, value string) *Error {
	c := *e
	c.Details = append(append([]NameValue(nil), e.Details...), NameValue{Name: name, Value: value})
	return &c
}

// ErrorCode returns the class of err: the Code of the first *Error in its chain,
// or EInternal for any other non-nil error, or "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorReason returns the protocol reason of the first *Error in err's chain, or "".
func ErrorReason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// ErrorMessage returns the message of the first *Error in err's chain. Internal
// errors get a generic message so that no detail of the failure leaks to callers.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred."
}

// IsCode reports whether err's class is code.
func IsCode(err error, code Code) bool { return err != nil && ErrorCode(err) == code }
