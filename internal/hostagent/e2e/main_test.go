package e2e

import (
	"testing"

	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func TestMain(m *testing.M) {
	helperMain()
	testenv.LoopbackOnly(m)
}
