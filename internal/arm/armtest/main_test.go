package armtest

import (
	"testing"

	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func TestMain(m *testing.M) { testenv.LoopbackOnly(m) }
