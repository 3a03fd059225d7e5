package batch

import (
	"strings"

	"github.com/cobaltbatch/cobalt/internal/batchwire"
)

func toARM(key, v string) string { return batchwire.ARMEnum(key, v) }

func toDP(key, v string) string { return batchwire.DPEnum(key, v) }

func knownEnum(key, v string) bool { return batchwire.KnownEnum(key, v) }

func lower(s string) string { return strings.ToLower(s) }
