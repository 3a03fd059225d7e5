package batchapi

import "github.com/cobaltbatch/cobalt/internal/jobs"

// The jobs service is what Config.Jobs expects.
var _ Jobs = (*jobs.Service)(nil)
