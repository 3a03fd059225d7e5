package benchrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cobaltbatch/cobalt/internal/server"
)

// child is the `cobalt up` under measurement.
type child struct {
	cmd     *exec.Cmd
	dataDir string
	log     string
	ep      server.Endpoints
	exited  chan error
}

// startChild starts `exe up --data dir --port-base 0` with its output in
// dir/up.log and waits until it has written endpoints.json.
func startChild(ctx context.Context, exe, dir string, extra []string, env []string) (*child, error) {
	logPath := filepath.Join(dir, "up.log")
	data := filepath.Join(dir, "data")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	args := append([]string{"up", "--data", data, "--port-base", "0"}, extra...)
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), env...)
	// Its own process group, so that a terminal's Ctrl-C reaches the bench,
	// which then stops the child gracefully.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, dataDir: data, log: logPath, exited: make(chan error, 1)}
	go func() { c.exited <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
	for {
		if ep, err := server.ReadEndpoints(data); err == nil {
			c.ep = ep
			return c, nil
		}
		select {
		case err := <-c.exited:
			c.exited <- err
			return nil, fmt.Errorf("cobalt up exited before it was ready (%v): %s", err, tail(logPath))
		case <-deadline:
			c.stop()
			return nil, fmt.Errorf("cobalt up not ready after 2 minutes: %s", tail(logPath))
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// stop asks the child to shut down (SIGTERM) and waits for it, killing it
// after a minute.
func (c *child) stop() error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.exited:
		c.exited <- err
		return err
	case <-time.After(time.Minute):
		_ = c.cmd.Process.Kill()
		return errors.New("cobalt up did not stop within a minute; killed")
	}
}

// ports reads the child's listener ports (data/ports.json).
func (c *child) ports() map[string]int {
	m := map[string]int{}
	if b, err := os.ReadFile(filepath.Join(c.dataDir, "ports.json")); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

// tail returns the last lines of a log file, for an error message.
func tail(name string) string {
	b, _ := os.ReadFile(name)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// treePSS sums the proportional set size (smaps_rollup Pss) of pid and all
// its descendants, in bytes, and counts the processes.
func treePSS(pid int) (int64, int) {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(p)
		if err != nil {
			continue
		}
		children[st.ppid] = append(children[st.ppid], p)
	}
	var total int64
	n := 0
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		queue = append(queue, children[p]...)
		n++
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/smaps_rollup")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				total += kb << 10
			}
		}
	}
	return total, n
}

// kernelMem is the machine's kernel memory from /proc/meminfo (Slab,
// KernelStack, PageTables), in bytes: system-wide, so other work on the
// machine shows in its differences.
func kernelMem() int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	var total int64
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "Slab", "KernelStack", "PageTables":
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			total += kb << 10
		}
	}
	return total
}
