//go:build linux

package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxPids bounds the processes of one node.
const maxPids = 8192

// cgroupRoot is where the hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// cgroup is a node's cgroup: one directory per v1 hierarchy, or one v2
// directory.
type cgroup struct {
	v2   bool
	dirs map[string]string // controller ("" for v2) → directory

	// oomMu guards oomFile, the open file oomKills reads from offset 0
	// (a cgroup file renders anew on every read): the agent reads it
	// around every task, and an open and close each time cost as much as
	// the read.
	oomMu   sync.Mutex
	oomFile *os.File
}

// newCgroup creates the node's cgroup named name under "cobalt" and sets
// lim. It returns nil (and an error to log once) where the host allows none.
func newCgroup(name string, lim Limits) (*cgroup, error) {
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		dir := filepath.Join(cgroupRoot, "cobalt", name)
		parent := filepath.Dir(dir)
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, err
		}
		_ = os.WriteFile(filepath.Join(cgroupRoot, "cgroup.subtree_control"), []byte("+memory +cpu +pids"), 0)
		_ = os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+memory +cpu +pids"), 0)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		cg := &cgroup{v2: true, dirs: map[string]string{"": dir}}
		var errs []error
		if lim.MemoryBytes > 0 {
			errs = append(errs, os.WriteFile(filepath.Join(dir, "memory.max"), []byte(strconv.FormatInt(lim.MemoryBytes, 10)), 0))
			_ = os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0)
		}
		_ = os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.Itoa(maxPids)), 0)
		if lim.CPUs > 0 {
			errs = append(errs, os.WriteFile(filepath.Join(dir, "cpu.max"), fmt.Appendf(nil, "%d 100000", int64(lim.CPUs*100000)), 0))
		}
		return cg, errors.Join(errs...)
	}
	cg := &cgroup{dirs: map[string]string{}}
	var errs []error
	for _, c := range []string{"memory", "cpu", "pids"} {
		base := filepath.Join(cgroupRoot, c)
		if _, err := os.Stat(filepath.Join(base, "tasks")); err != nil {
			continue
		}
		dir := filepath.Join(base, "cobalt", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		cg.dirs[c] = dir
	}
	if len(cg.dirs) == 0 {
		return nil, errors.Join(append(errs, errors.New("no cgroup hierarchy is available"))...)
	}
	if d := cg.dirs["memory"]; d != "" && lim.MemoryBytes > 0 {
		errs = append(errs, os.WriteFile(filepath.Join(d, "memory.limit_in_bytes"), []byte(strconv.FormatInt(lim.MemoryBytes, 10)), 0))
		// Without swap accounting this file does not exist.
		_ = os.WriteFile(filepath.Join(d, "memory.memsw.limit_in_bytes"), []byte(strconv.FormatInt(lim.MemoryBytes, 10)), 0)
	}
	if d := cg.dirs["pids"]; d != "" {
		// A fork bomb in a node must not take the host's pids.
		errs = append(errs, os.WriteFile(filepath.Join(d, "pids.max"), []byte(strconv.Itoa(maxPids)), 0))
	}
	if d := cg.dirs["cpu"]; d != "" && lim.CPUs > 0 {
		errs = append(errs, os.WriteFile(filepath.Join(d, "cpu.cfs_period_us"), []byte("100000"), 0))
		errs = append(errs, os.WriteFile(filepath.Join(d, "cpu.cfs_quota_us"), []byte(strconv.FormatInt(int64(lim.CPUs*100000), 10)), 0))
	}
	return cg, errors.Join(errs...)
}

// enterThread moves the calling OS thread into the cgroup (v1: per-thread
// "tasks"), so that a process it forks starts there; it returns the
// function that moves it back. v2 places the child with CgroupFD instead.
func (cg *cgroup) enterThread(tid int) (back func() error, err error) {
	if cg == nil || cg.v2 {
		return func() error { return nil }, nil
	}
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	var moved []string
	back = func() error {
		var errs []error
		for _, c := range moved {
			orig := filepath.Join(cgroupRoot, c, own[c], "tasks")
			errs = append(errs, os.WriteFile(orig, []byte(strconv.Itoa(tid)), 0))
		}
		return errors.Join(errs...)
	}
	for c, dir := range cg.dirs {
		if err := os.WriteFile(filepath.Join(dir, "tasks"), []byte(strconv.Itoa(tid)), 0); err != nil {
			return nil, errors.Join(err, back())
		}
		moved = append(moved, c)
	}
	return back, nil
}

// ownCgroups reads the v1 cgroups of the calling thread.
func ownCgroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/thread-self/cgroup")
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			m[c] = parts[2]
		}
	}
	return m, nil
}

// dir2 is the v2 directory, "" for v1.
func (cg *cgroup) dir2() string {
	if cg == nil || !cg.v2 {
		return ""
	}
	return cg.dirs[""]
}

// oomKills is the number of processes the memory limit killed so far.
func (cg *cgroup) oomKills() int64 {
	if cg == nil {
		return 0
	}
	f, key := cg.oomCounter()
	if f == nil {
		return 0
	}
	var buf [512]byte
	n, err := f.ReadAt(buf[:], 0)
	if n == 0 && err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(buf[:n]), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// oomCounter returns the open file that counts the cgroup's OOM kills and
// the key of its line, or nil where there is none.
func (cg *cgroup) oomCounter() (*os.File, string) {
	file, key, d := "memory.oom_control", "oom_kill ", cg.dirs["memory"]
	if cg.v2 {
		file, key, d = "memory.events", "oom_kill ", cg.dirs[""]
	}
	if d == "" {
		return nil, ""
	}
	cg.oomMu.Lock()
	defer cg.oomMu.Unlock()
	if cg.oomFile == nil {
		f, err := os.Open(filepath.Join(d, file))
		if err != nil {
			return nil, ""
		}
		cg.oomFile = f
	}
	return cg.oomFile, key
}

// remove deletes the node's cgroup directories (empty once the node's
// processes are gone).
func (cg *cgroup) remove() error {
	if cg == nil {
		return nil
	}
	cg.oomMu.Lock()
	if cg.oomFile != nil {
		_ = cg.oomFile.Close()
		cg.oomFile = nil
	}
	cg.oomMu.Unlock()
	var errs []error
	for _, d := range cg.dirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SweepCgroups removes node cgroups that a Cobalt process which ended left
// behind: every directory under the "cobalt" cgroups that has no process
// and was created more than minAge ago (a node being started by another
// process right now is younger). It returns how many it removed.
func SweepCgroups(minAge time.Duration) int {
	var parents []string
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		parents = []string{filepath.Join(cgroupRoot, "cobalt")}
	} else {
		for _, c := range []string{"memory", "cpu", "pids"} {
			parents = append(parents, filepath.Join(cgroupRoot, c, "cobalt"))
		}
	}
	removed := 0
	for _, parent := range parents {
		ents, err := os.ReadDir(parent)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(parent, e.Name())
			fi, err := os.Stat(dir)
			if err != nil || time.Since(fi.ModTime()) < minAge {
				continue
			}
			if procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); err != nil || len(bytes.TrimSpace(procs)) > 0 {
				continue
			}
			if os.Remove(dir) == nil {
				removed++
			}
		}
	}
	return removed
}
