package taskrun

import (
	"strconv"
	"strings"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// MasterPort is the port AZ_BATCH_MASTER_NODE names on the primary's node,
// as Batch reports it (Batch reserves it for itself; tasks do not use it).
const MasterPort = 6000

// MultiInstanceEnv is the environment Batch gives both commands of a
// multi-instance task's instance, dir being the task's directory on the
// node: AZ_BATCH_HOST_LIST (addresses, comma-separated),
// AZ_BATCH_NODE_LIST (semicolon-separated), AZ_BATCH_MASTER_NODE (the
// primary's address and MasterPort), AZ_BATCH_IS_CURRENT_NODE_MASTER,
// AZ_BATCH_TASK_SHARED_DIR (dir, where the common resource files are) and
// CCP_NODES ("<count> <address> <cores> ...", one core counted per node).
func MultiInstanceEnv(mi nodeproto.MultiInstance, dir string) []string {
	hosts := mi.Hosts
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1"}
	}
	ccp := []string{strconv.Itoa(len(hosts))}
	for _, h := range hosts {
		ccp = append(ccp, h, "1")
	}
	return []string{
		"AZ_BATCH_HOST_LIST=" + strings.Join(hosts, ","),
		"AZ_BATCH_NODE_LIST=" + strings.Join(hosts, ";"),
		"AZ_BATCH_MASTER_NODE=" + hosts[0] + ":" + strconv.Itoa(MasterPort),
		"AZ_BATCH_IS_CURRENT_NODE_MASTER=" + strconv.FormatBool(mi.SubtaskID == 0),
		"AZ_BATCH_TASK_SHARED_DIR=" + dir,
		"CCP_NODES=" + strings.Join(ccp, " "),
	}
}
