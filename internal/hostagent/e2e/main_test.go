package e2e

import (
	"testing"

	"github.com/cobaltbatch/cobalt/internal/sandbox"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func TestMain(m *testing.M) {
	sandbox.Main()
	runCLIIfAsked()
	testenv.RunMIHelper()
	testenv.LoopbackOnly(m)
}
