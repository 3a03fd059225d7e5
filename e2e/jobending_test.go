package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"

	"github.com/cobaltbatch/cobalt/internal/server"
)

// TestJobDeletingAndTerminatingWaitForRelease: through azbatch, a deleted
// job whose release task still runs on its node is returned in state
// deleting and refuses new tasks with Batch's 409 JobBeingDeleted, then
// disappears (404 JobNotFound) once the release task ended; a terminated
// one is terminating (409 JobBeingTerminated for a new task) and then
// completed. The release tasks wait on a gate file the test opens.
func TestJobDeletingAndTerminatingWaitForRelease(t *testing.T) {
	e := startWith(t, server.Options{Isolation: "process"})
	c := ctx(t)
	bc := e.batchClient(t, e.plainPool(t, c, "rel", 1, 1))
	gates, err := os.MkdirTemp("/var/tmp", "cobalt-release-gates-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(gates) })
	if err := os.Chmod(gates, 0o777); err != nil {
		t.Fatal(err)
	}

	run := func(jobID string) string {
		gate := filepath.Join(gates, jobID)
		if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr(jobID), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("rel")},
			JobPreparationTask: &azbatch.JobPreparationTask{CommandLine: to.Ptr("/bin/true")},
			JobReleaseTask:     &azbatch.JobReleaseTask{CommandLine: to.Ptr(`/bin/sh -c 'while [ ! -e ` + gate + ` ]; do sleep 0.2; done'`)},
		}, nil); err != nil {
			t.Fatalf("create job: %v", err)
		}
		if _, err := bc.CreateTask(c, jobID, azbatch.CreateTaskContent{ID: to.Ptr("t1"), CommandLine: to.Ptr("/bin/true")}, nil); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the task completes", func() error {
			tk, err := bc.GetTask(c, jobID, "t1", nil)
			if err == nil && deref(tk.State) != azbatch.TaskStateCompleted {
				return errState(string(deref(tk.State)))
			}
			return err
		})
		return gate
	}
	open := func(gate string) {
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Deleted: deleting until the release task ran, then gone.
	gate := run("deleted")
	if _, err := bc.DeleteJob(c, "deleted", nil); err != nil {
		t.Fatalf("delete job: %v", err)
	}
	if j, err := bc.GetJob(c, "deleted", nil); err != nil || deref(j.State) != azbatch.JobStateDeleting {
		t.Fatalf("the deleted job: %v %v", j.State, err)
	}
	_, err = bc.CreateTask(c, "deleted", azbatch.CreateTaskContent{ID: to.Ptr("late"), CommandLine: to.Ptr("/bin/true")}, nil)
	if got := batchErrText(err); got != "409 JobBeingDeleted" {
		t.Errorf("add a task to a deleting job: %s", got)
	}
	if _, err := bc.DeleteJob(c, "deleted", nil); batchErrText(err) != "409 JobBeingDeleted" {
		t.Errorf("delete a deleting job: %s", batchErrText(err))
	}
	open(gate)
	eventually(t, "the deleted job goes once released", func() error {
		_, err := bc.GetJob(c, "deleted", nil)
		if got := batchErrText(err); got != "404 JobNotFound" {
			return errState(got)
		}
		return nil
	})

	// Terminated: terminating until the release task ran, then completed.
	gate = run("ended")
	if _, err := bc.TerminateJob(c, "ended", nil); err != nil {
		t.Fatalf("terminate job: %v", err)
	}
	if j, err := bc.GetJob(c, "ended", nil); err != nil || deref(j.State) != azbatch.JobStateTerminating || j.ExecutionInfo.EndTime != nil ||
		j.ExecutionInfo.TerminationReason != nil {
		t.Fatalf("the terminated job: %v %v", j.State, err)
	}
	_, err = bc.CreateTask(c, "ended", azbatch.CreateTaskContent{ID: to.Ptr("late"), CommandLine: to.Ptr("/bin/true")}, nil)
	if got := batchErrText(err); got != "409 JobBeingTerminated" {
		t.Errorf("add a task to a terminating job: %s", got)
	}
	open(gate)
	eventually(t, "the terminated job completes once released", func() error {
		j, err := bc.GetJob(c, "ended", nil)
		if err == nil && (deref(j.State) != azbatch.JobStateCompleted || j.ExecutionInfo.EndTime == nil ||
			deref(j.ExecutionInfo.TerminationReason) != "UserTerminate") {
			return errState(string(deref(j.State)))
		}
		return err
	})
}

// errState is an unexpected state as an error.
type errState string

func (e errState) Error() string { return "state " + string(e) }

// TestTaskRetentionTime: through azbatch, once a completed task's
// constraints.retentionTime passed its directory is deleted from the node
// and the files API answers Batch's 409 TaskFilesCleanedup; a task with the
// default retention (7 days) keeps its files.
func TestTaskRetentionTime(t *testing.T) {
	e := startWith(t, server.Options{Isolation: "process"})
	c := ctx(t)
	bc := e.batchClient(t, e.plainPool(t, c, "ret", 1, 2))
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("rj"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("ret")}}, nil); err != nil {
		t.Fatal(err)
	}
	for id, ret := range map[string]*string{"short": to.Ptr("PT1S"), "kept": nil} {
		if _, err := bc.CreateTask(c, "rj", azbatch.CreateTaskContent{ID: to.Ptr(id), CommandLine: to.Ptr("/bin/echo hello"),
			Constraints: &azbatch.TaskConstraints{RetentionTime: ret}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"short", "kept"} {
		eventually(t, "task "+id+" completes", func() error {
			tk, err := bc.GetTask(c, "rj", id, nil)
			if err == nil && deref(tk.State) != azbatch.TaskStateCompleted {
				return errState(string(deref(tk.State)))
			}
			return err
		})
	}
	eventually(t, "the short task's files are cleaned up", func() error {
		_, err := bc.GetTaskFile(c, "rj", "short", "stdout.txt", nil)
		if got := batchErrText(err); got != "409 TaskFilesCleanedup" {
			return errState(got)
		}
		return nil
	})
	if _, err := bc.NewListTaskFilesPager("rj", "short", nil).NextPage(c); batchErrText(err) != "409 TaskFilesCleanedup" {
		t.Errorf("list the cleaned-up task's files: %s", batchErrText(err))
	}
	f, err := bc.GetTaskFile(c, "rj", "kept", "stdout.txt", nil)
	if err != nil {
		t.Fatalf("the kept task's stdout: %v", err)
	}
	f.Body.Close()
}
