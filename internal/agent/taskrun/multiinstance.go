package taskrun

import (
	"strconv"
	"strings"
	"sync"
	"syscall"

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

// coordinationGroups holds, by task directory, the process group of the
// coordination command that last ran there, in this process (the agent in
// process mode, the node's init in a sandbox): never anything a task could
// write, since the group is killed as root.
var coordinationGroups sync.Map // string -> int

// endInstance kills what the coordination command in dir left running in
// its process group (background services started for the task), when the
// instance ends. Processes that left the group (setsid, daemons that
// detach) are not found: they end with the node.
func endInstance(dir string) {
	if v, ok := coordinationGroups.LoadAndDelete(dir); ok {
		if pg := v.(int); pg > 1 {
			_ = syscall.Kill(-pg, syscall.SIGKILL)
		}
	}
}
