package pkitest

import (
	"testing"

	"github.com/cobaltbatch/cobalt/internal/pki"
)

// NewCA returns a CA with its server certificate in a temporary directory
// removed when the test ends. It fails the test when the CA cannot be made.
func NewCA(t testing.TB) *pki.CA {
	t.Helper()
	ca, err := pki.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}
