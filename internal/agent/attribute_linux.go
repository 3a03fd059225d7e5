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
	"time"
)

// attribute finds the task that sent r to the node's IMDS: the TCP
// connection's client socket is looked up in the namespace's socket table,
// its owner among the processes in the namespace, and the task by that
// process's session, which the node's init reported when the task started.
// Nothing the task claims (its environment) counts. It returns
// "jobID/taskID", or "" when any step fails or the process is in no task's
// session (the request is then attributed to the node).
func (n *netnsIsolation) attribute(r *http.Request) string {
	n.mu.Lock()
	sessionTask := n.sessionTask
	n.mu.Unlock()
	if sessionTask == nil {
		return ""
	}
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
				return taskOfProcess(proc, sessionTask)
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

// taskOfProcess is the task whose session the process proc (a /proc
// directory) is in. The init learns of a task's session just after its
// process started, so a request sent at once may briefly find none.
func taskOfProcess(proc string, sessionTask func(sid int) string) string {
	b, err := os.ReadFile(proc + "/status")
	if err != nil {
		return ""
	}
	sid := nodeSessionID(b)
	if sid <= 0 {
		return ""
	}
	for range 20 {
		if task := sessionTask(sid); task != "" {
			return task
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ""
}

// nodeSessionID reads, from a /proc/PID/status, the process's session id in
// its innermost PID namespace (the last NSsid field): the node's.
func nodeSessionID(status []byte) int {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "NSsid:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0
			}
			sid, err := strconv.Atoi(f[len(f)-1])
			if err != nil {
				return 0
			}
			return sid
		}
	}
	return 0
}
