package sandbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// maxMessage bounds one control message in either direction.
const maxMessage = 4 << 20

// Control operations.
const (
	opConfig  = "config"  // host → init: InitConfig
	opRun     = "run"     // host → init: run Task under ID
	opKill    = "kill"    // host → init: end the task ID
	opReady   = "ready"   // init → host: the node is set up
	opDone    = "done"    // init → host: task ID finished, Result
	opStarted = "started" // init → host: task ID's process started, Pid (its session)
	opFailed  = "failed"  // init → host: setup failed, Error
)

// message is one control message.
type message struct {
	Op     string      `json:"op"`
	ID     uint64      `json:"id,omitempty"`
	Config *InitConfig `json:"config,omitempty"`
	Task   *Task       `json:"task,omitempty"`
	Result *Result     `json:"result,omitempty"`
	Error  string      `json:"error,omitempty"`
	Pid    int         `json:"pid,omitempty"`
}

// Limits are a node's resource limits (from its VM size); zero is none.
type Limits struct {
	CPUs        float64
	MemoryBytes int64
}

// User is a named user account of the node's pool.
type User struct {
	Name string `json:"name"`
	UID  int    `json:"uid"`
	// Admin gives the user every capability of node root.
	Admin bool `json:"admin,omitempty"`
}

// InitConfig is what the init needs to set the node up.
type InitConfig struct {
	Hostname string `json:"hostname"`
	// Users are the pool's named user accounts.
	Users []User `json:"users,omitempty"`
	// CA is the installation CA (PEM), added to the node's CA bundle.
	CA []byte `json:"ca,omitempty"`
	// TmpfsBytes is the size of each of the node's writable tmpfs mounts
	// (/tmp, /home, /run, /var, /dev/shm). Start sets it from the node's
	// Limits when zero.
	TmpfsBytes int64 `json:"tmpfsBytes,omitempty"`
	// Containers is the pool's container configuration: when set, the node
	// runs container tasks (runc) and pulls from these registries.
	Containers *nodeproto.ContainerConfiguration `json:"containers,omitempty"`
	// PublicName is the control plane's public DNS name, which the node's
	// /etc/hosts maps to its loopback ("" for none).
	PublicName string `json:"publicName,omitempty"`
}

// DefaultTmpfsBytes is the size of each of a node's tmpfs mounts when its
// memory is not known.
const DefaultTmpfsBytes = 512 << 20

// tmpfsBytes is the size of each tmpfs of a node with limits lim: half its
// memory (the kernel's own default, of the host's), or DefaultTmpfsBytes.
func tmpfsBytes(lim Limits) int64 {
	if lim.MemoryBytes > 0 {
		return max(lim.MemoryBytes/2, 16<<20)
	}
	return DefaultTmpfsBytes
}

// Task is one start task or task for the init to run, or the pull of the
// pool's container images. Exactly one of StartTask, Lease and PullImages
// is set.
type Task struct {
	PullImages bool `json:"pullImages,omitempty"`
	// Mount mounts the pool's blob containers (InitConfig.Mounts).
	Mount     bool                 `json:"mount,omitempty"`
	StartTask *nodeproto.StartTask `json:"startTask,omitempty"`
	Attempt   int                  `json:"attempt,omitempty"`
	Lease     *nodeproto.TaskLease `json:"lease,omitempty"`
	// Env is the node-level environment (AZ_BATCH_*, CA bundle, identity).
	Env []string `json:"env,omitempty"`
}

// Result is a finished task's outcome. Exactly one of StartTask and Report
// is set, matching the Task.
type Result struct {
	StartTask *nodeproto.StartTaskInfo `json:"startTask,omitempty"`
	Report    *nodeproto.ReportRequest `json:"report,omitempty"`
	// PullErrors are the images a PullImages task could not pull (none:
	// every image is on the node).
	PullErrors []nodeproto.NodeError `json:"pullErrors,omitempty"`
}

// writeMessage writes m as a 4-byte big-endian length and its JSON.
func writeMessage(w io.Writer, m *message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > maxMessage {
		return fmt.Errorf("sandbox: control message of %d bytes is too large", len(b))
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err = w.Write(buf)
	return err
}

// errTooLarge is readMessage's answer to a length over maxMessage.
var errTooLarge = errors.New("sandbox: control message too large")

// readMessage reads one message written by writeMessage.
func readMessage(r io.Reader) (*message, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxMessage {
		return nil, errTooLarge
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("sandbox: bad control message: %w", err)
	}
	return &m, nil
}
