//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// attribute finds the task that sent r to the node's IMDS: the TCP
// connection's client socket is looked up in the namespace's socket table,
// its owner among the processes in the namespace, and the task in that
// process's AZ_BATCH_JOB_ID / AZ_BATCH_TASK_ID. It returns "jobID/taskID",
// or "" when any step fails (the request is then attributed to the node).
func (n *netnsIsolation) attribute(r *http.Request) string {
	_, p, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return ""
	}
	var table []byte
	if err := inNamespace(n.path, func() error {
		var err error
		table, err = os.ReadFile("/proc/thread-self/net/tcp")
		return err
	}); err != nil {
		return ""
	}
	inode := clientSocketInode(table, port, 80)
	if inode == "" {
		return ""
	}
	st, err := os.Stat(n.path)
	if err != nil {
		return ""
	}
	nsLink := fmt.Sprintf("net:[%d]", statIno(st))
	procs, _ := filepath.Glob("/proc/[0-9]*")
	want := "socket:[" + inode + "]"
	for _, proc := range procs {
		if l, err := os.Readlink(proc + "/ns/net"); err != nil || l != nsLink {
			continue
		}
		fds, _ := os.ReadDir(proc + "/fd")
		for _, fd := range fds {
			if l, err := os.Readlink(proc + "/fd/" + fd.Name()); err == nil && l == want {
				return taskFromEnviron(proc + "/environ")
			}
		}
	}
	return ""
}

// clientSocketInode finds, in a /proc/net/tcp table, the inode of the socket
// whose local port is localPort and remote port is remotePort.
func clientSocketInode(table []byte, localPort, remotePort int) string {
	wantLocal := fmt.Sprintf(":%04X", localPort)
	wantRemote := fmt.Sprintf(":%04X", remotePort)
	sc := bufio.NewScanner(bytes.NewReader(table))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 || !strings.HasSuffix(f[1], wantLocal) || !strings.HasSuffix(f[2], wantRemote) {
			continue
		}
		if f[9] != "0" {
			return f[9]
		}
	}
	return ""
}

// taskFromEnviron reads "jobID/taskID" from a process's environment.
func taskFromEnviron(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var job, task string
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("AZ_BATCH_JOB_ID=")); ok {
			job = string(v)
		}
		if v, ok := bytes.CutPrefix(kv, []byte("AZ_BATCH_TASK_ID=")); ok {
			task = string(v)
		}
	}
	if job == "" || task == "" {
		return ""
	}
	return job + "/" + task
}
