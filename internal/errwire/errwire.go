package errwire

import (
	"net/http"

	"github.com/cobaltbatch/cobalt"
)

var codeStatus = map[cobalt.Code]int{
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

// HTTPStatus returns the HTTP status that conventionally carries code: 500
// for EInternal and for any code the table does not know.
func HTTPStatus(code cobalt.Code) int {
	if s, ok := codeStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// StatusOf returns the HTTP status of err's class (see [HTTPStatus]).
func StatusOf(err error) int { return HTTPStatus(cobalt.ErrorCode(err)) }
