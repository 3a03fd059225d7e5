package batch

import (
	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
)

// invalidValue is the 400 for a property value the domain rules refuse.
func invalidValue(target, format string, args ...any) *cobalt.Error {
	return batchwire.InvalidValue(target, format, args...)
}

// missing is the 400 for a required property left out.
func missing(target string) *cobalt.Error { return batchwire.Missing(target) }
