package postgres_test

import (
	"testing"

	"github.com/cobaltbatch/cobalt/internal/store/storetest"
)

func TestConformance(t *testing.T) { storetest.Run(t, storetest.Postgres(t)) }
