package batchapi

import (
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/jobs"
)

// The jobs service is what Config.Jobs expects.
var _ Jobs = (*jobs.Service)(nil)

// The pool service is what Config.Pools expects.
var _ Pools = (*batch.Service)(nil)
