package sqlite_test

import (
	"testing"

	"github.com/cobaltbatch/cobalt/internal/store/storetest"
)

func TestConformance(t *testing.T) { storetest.Run(t, storetest.SQLite(t)) }
