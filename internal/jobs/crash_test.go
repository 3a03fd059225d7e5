package jobs

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

// The test binary doubles as a control plane child process: with
// COBALT_JOBS_CHILD set, TestMain runs childMain instead of the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("COBALT_JOBS_CHILD"); mode != "" {
		os.Exit(childMain(mode))
	}
	os.Exit(m.Run())
}

// childMain runs a control plane child process. Modes:
//
//	crash-submit DB LOG   add a job of 2,000 tasks, then run them
//	crash-resume DB LOG   requeue the dead agents' tasks, then run the rest
//	rss DB N              queue N tasks, claim a few, print VmHWM
func childMain(mode string) int {
	ctx := context.Background()
	args := strings.Split(os.Getenv("COBALT_JOBS_CHILD_ARGS"), "\n")
	st, err := sqlite.Open(ctx, args[0], nil)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer st.Close()
	s, err := New(Config{Store: st, PollInterval: 50 * time.Millisecond})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	switch mode {
	case "crash-submit", "crash-resume":
		err = crashChild(ctx, s, st, mode == "crash-submit", args[1])
	case "rss":
		n, _ := strconv.Atoi(args[1])
		err = rssChild(ctx, s, n)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	return 0
}

const crashTasks = 2000

func crashChild(ctx context.Context, s *Service, st store.JobStore, submit bool, log string) error {
	if submit {
		if _, err := s.AddJob(ctx, acct, cobalt.JobSpec{ID: "crash", PoolInfo: &cobalt.PoolInformation{PoolID: "pool1"}}); err != nil {
			return err
		}
		for b := range crashTasks / 100 {
			var specs []cobalt.TaskSpec
			for i := range 100 {
				specs = append(specs, cobalt.TaskSpec{ID: fmt.Sprintf("t%04d", b*100+i), CommandLine: "echo $AZ_BATCH_TASK_ID >> " + log,
					UserIdentity: &cobalt.UserIdentity{AutoUser: &cobalt.AutoUser{ElevationLevel: "admin"}}})
			}
			res, err := s.AddTaskCollection(ctx, acct, "crash", specs)
			if err != nil {
				return err
			}
			for _, r := range res {
				if r.Status != AddSuccess {
					return fmt.Errorf("add %s: %v", r.TaskID, r.Err)
				}
			}
		}
		fmt.Println("submitted")
	} else {
		// The previous process's in-process agents died with it: the node
		// monitor of the pool service reports their nodes lost, which requeues their tasks.
		recs, _, err := st.TaskList(ctx, store.TaskListParams{AccountKey: acct, States: []string{taskRunning, taskPreparing}, Page: store.Page{Limit: 5000}})
		if err != nil {
			return err
		}
		lost := map[string]bool{}
		for _, r := range recs {
			lost[r.NodeID] = true
		}
		for n := range lost {
			if err := s.NodeLost(ctx, cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: n}); err != nil {
				return err
			}
		}
		fmt.Printf("requeued %d tasks of %d lost nodes\n", len(recs), len(lost))
	}
	root, err := os.MkdirTemp(filepath.Dir(log), "nodes")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 4 {
		d := taskrun.Dirs{NodeRoot: filepath.Join(root, fmt.Sprint(i))}
		node := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: fmt.Sprintf("p%d-n%d", os.Getpid(), i)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			runAgent(ctx, s, node, 4, func(l nodeproto.TaskLease) nodeproto.ReportRequest {
				return taskrun.RunTask(ctx, taskrun.Config{}, d, l)
			})
		}()
	}
	for {
		c, err := s.JobTaskCounts(ctx, acct, "crash")
		if err != nil {
			return err
		}
		fmt.Printf("completed %d\n", c.TaskCounts.Completed)
		if c.TaskCounts.Completed == crashTasks {
			cancel()
			wg.Wait()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startChild re-executes the test binary as a child control plane.
func startChild(t testing.TB, mode string, args ...string) (*exec.Cmd, *bufio.Scanner) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "COBALT_JOBS_CHILD="+mode, "COBALT_JOBS_CHILD_ARGS="+strings.Join(args, "\n"))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

// TestCrashDurability submits 2,000 tasks to a control plane child process,
// SIGKILLs it in the middle of the run, restarts it on the same SQLite file,
// and checks that every task completed once in the store and ran at least
// once, with only tasks in flight at the kill run twice (and counted as requeued).
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 2,000+ processes")
	}
	t.Parallel()
	dir := t.TempDir()
	db, log := filepath.Join(dir, "cobalt.db"), filepath.Join(dir, "runs.log")
	cmd, out := startChild(t, "crash-submit", db, log)
	killedAt := -1
	for out.Scan() {
		line := out.Text()
		if strings.HasPrefix(line, "error:") {
			t.Fatal(line)
		}
		if n, ok := strings.CutPrefix(line, "completed "); ok {
			if c, _ := strconv.Atoi(n); c >= crashTasks/4 {
				killedAt = c
				break
			}
		}
	}
	if killedAt < 0 {
		t.Fatal("the child ended before the kill")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if killedAt >= crashTasks {
		t.Fatalf("the run finished (%d) before the kill", killedAt)
	}
	cmd, out = startChild(t, "crash-resume", db, log)
	var lines []string
	for out.Scan() {
		lines = append(lines, out.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("resumed child: %v; output tail %v", err, lines[max(0, len(lines)-3):])
	}
	t.Logf("killed after %d completions; restart: %s", killedAt, lines[0])

	st, err := sqlite.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := newService(t, st, Config{})
	c, err := s.JobTaskCounts(t.Context(), acct, "crash")
	if err != nil || c.TaskCounts != (TaskCounts{Completed: crashTasks, Succeeded: crashTasks}) {
		t.Fatalf("counts %+v %v", c, err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]int{}
	for _, id := range strings.Fields(string(b)) {
		ran[id]++
	}
	if len(ran) != crashTasks {
		t.Fatalf("%d distinct tasks ran, want %d", len(ran), crashTasks)
	}
	twice := 0
	for id, n := range ran {
		if n > 1 {
			twice++
			task, err := s.GetTask(t.Context(), acct, "crash", id)
			if err != nil || n > 2 || task.ExecutionInfo.RequeueCount != 1 {
				t.Errorf("task %s ran %d times, requeueCount %d", id, n, task.ExecutionInfo.RequeueCount)
			}
		}
	}
	if twice > 16 {
		t.Fatalf("%d tasks ran twice; at most the 16 in flight at the kill may", twice)
	}
	t.Logf("all %d tasks completed once in the store; %d in flight at the kill ran again after requeue", crashTasks, twice)
}
