package server

import (
	"os"
	"strconv"
	"strings"

	"github.com/cobaltbatch/cobalt/internal/sandbox"
)

// nodeMemoryBudget is the machine memory the default capacity reserves per
// compute node. An idle node costs well under a MiB (`cobalt bench`, memory
// row); the rest is room for the tasks a node runs.
const nodeMemoryBudget = 64 << 20

// defaultMaxNodes is the node capacity of a host when --max-nodes is not
// given: one node per 64 MiB of the machine's memory (MemTotal), at least 16
// and at most sandbox.MaxSlots, the node uid ranges there are. 64 when the
// memory cannot be read.
func defaultMaxNodes() int {
	return maxNodesFor(memTotal())
}

func maxNodesFor(mem int64) int {
	if mem <= 0 {
		return 64
	}
	return int(min(max(mem/nodeMemoryBudget, 16), sandbox.MaxSlots))
}

// memTotal reads MemTotal from /proc/meminfo in bytes, or 0.
func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
