package benchrun

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procStat is what the tasks row reads of one process's /proc/PID/stat.
type procStat struct {
	ppid int
	// own is the process's user and system time; reaped is that of its
	// children it has waited for (cutime + cstime).
	own, reaped time.Duration
}

// readProcStat parses /proc/PID/stat (times in clock ticks of 1/100 s, as
// on every Linux Go supports).
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name, in parentheses, may hold spaces: fields follow the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var v [5]int64
	for k, idx := range []int{1, 11, 12, 13, 14} { // ppid, utime, stime, cutime, cstime
		if v[k], err = strconv.ParseInt(f[idx], 10, 64); err != nil {
			return procStat{}, fmt.Errorf("/proc/%d/stat: field %d: %w", pid, idx+3, err)
		}
	}
	tick := 10 * time.Millisecond
	return procStat{ppid: int(v[0]), own: time.Duration(v[1]+v[2]) * tick, reaped: time.Duration(v[3]+v[4]) * tick}, nil
}

// treeCPU returns the CPU time of root (its own) and of every other process
// under it (their own and that of the children they reaped: the nodes'
// inits reap their tasks). A process that exits between two readings takes
// its time with it unless its parent reaps it; the tasks row's nodes and
// their spawner live through the row.
func treeCPU(root int) (rootCPU, rest time.Duration, err error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, err
	}
	stats := map[int]procStat{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readProcStat(pid); err == nil {
			stats[pid] = st
		}
	}
	r, ok := stats[root]
	if !ok {
		return 0, 0, fmt.Errorf("process %d not found", root)
	}
	under := func(pid int) bool {
		for hops := 0; pid > 1 && hops < 64; hops++ {
			st, ok := stats[pid]
			if !ok {
				return false
			}
			if st.ppid == root {
				return true
			}
			pid = st.ppid
		}
		return false
	}
	for pid, st := range stats {
		if pid != root && under(pid) {
			rest += st.own + st.reaped
		}
	}
	return r.own, rest, nil
}
