package errwire

import (
	"errors"
	"net/http"
	"testing"

	"github.com/cobaltbatch/cobalt"
)

func TestHTTPStatus(t *testing.T) {
	for code, want := range map[cobalt.Code]int{
		cobalt.ENotFound:           http.StatusNotFound,
		cobalt.EConflict:           http.StatusConflict,
		cobalt.EInvalid:            http.StatusBadRequest,
		cobalt.EUnauthorized:       http.StatusUnauthorized,
		cobalt.EForbidden:          http.StatusForbidden,
		cobalt.EPreconditionFailed: http.StatusPreconditionFailed,
		cobalt.ETooManyRequests:    http.StatusTooManyRequests,
		cobalt.ETooLarge:           http.StatusRequestEntityTooLarge,
		cobalt.EInternal:           http.StatusInternalServerError,
		cobalt.Code("Unknown"):     http.StatusInternalServerError,
	} {
		if got := HTTPStatus(code); got != want {
			t.Errorf("HTTPStatus(%q) = %d, want %d", code, got, want)
		}
	}
	if got := StatusOf(errors.New("plain")); got != http.StatusInternalServerError {
		t.Errorf("StatusOf(plain error) = %d, want 500", got)
	}
	if got := StatusOf(cobalt.Errorf(cobalt.ENotFound, "x")); got != http.StatusNotFound {
		t.Errorf("StatusOf(ENotFound) = %d, want 404", got)
	}
}
