package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// MountFUSE mounts a FUSE file system at target, a path inside the node
// (for example NodeRoot + "/fsmounts/data"), and returns the FUSE device
// to serve it with. The host mounts it: the node's root may mount FUSE in
// its user namespace only with a device opened there, and cannot open the
// host's /dev/fuse. The mount belongs to the host (allow_other lets the
// node's users in); it ends with the node's mount namespace.
func (n *Node) MountFUSE(target, name string) (*os.File, error) {
	if !strings.HasPrefix(target, NodeRoot+"/") || strings.Contains(target, "/../") {
		return nil, fmt.Errorf("sandbox: the mount point %q is not inside the node's directory", target)
	}
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("sandbox: FUSE mounts need /dev/fuse: %w", err)
	}
	opts := "nosuid,nodev,fd=3,rootmode=40000,user_id=0,group_id=0,allow_other,max_read=1048576"
	// nsenter enters only the node's mount namespace (a Go process cannot
	// setns into one): the mount is made with the host's credentials, in
	// the user namespace the device was opened in, as FUSE requires.
	cmd := exec.Command("nsenter", "--mount=/proc/"+strconv.Itoa(n.Pid())+"/ns/mnt", "--",
		"mount", "-n", "-i", "-t", "fuse."+name, "-o", opts, name, target)
	cmd.ExtraFiles = []*os.File{dev}
	if out, err := cmd.CombinedOutput(); err != nil {
		dev.Close()
		return nil, fmt.Errorf("sandbox: mount %s: %v: %s", target, err, strings.TrimSpace(string(out)))
	}
	return dev, nil
}
