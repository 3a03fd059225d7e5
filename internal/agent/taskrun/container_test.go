package taskrun

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// A task with containerSettings never runs on the host: without a
// container runtime it fails with ContainerNotSupported.
func TestContainerTaskRefusedWithoutRuntime(t *testing.T) {
	d := dirs(t)
	marker := filepath.Join(t.TempDir(), "ran")
	for _, run := range []func() *nodeproto.FailureInfo{
		func() *nodeproto.FailureInfo {
			return RunTask(context.Background(), Config{}, d, nodeproto.TaskLease{LeaseID: "l", JobID: "j", TaskID: "t",
				CommandLine: "/bin/touch " + marker, Container: &nodeproto.ContainerSettings{ImageName: "busybox"}}).Failure
		},
		func() *nodeproto.FailureInfo {
			return RunStartTask(context.Background(), Config{}, d, nodeproto.StartTask{CommandLine: "/bin/touch " + marker,
				Container: &nodeproto.ContainerSettings{ImageName: "busybox"}}, 0).Failure
		},
	} {
		f := run()
		if f == nil || f.Code != CodeContainerNotSupported {
			t.Fatalf("failure %+v, want %s", f, CodeContainerNotSupported)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("the container task's command ran on the host")
		}
	}
}

type fakeContainer struct {
	argv            []string
	killed, removed bool
}

func (f *fakeContainer) Command() []string { return f.argv }
func (f *fakeContainer) Kill()             { f.killed = true }
func (f *fakeContainer) Remove() error     { f.removed = true; return nil }

// The runner runs what the container hook prepared, with the task's
// environment handed over, and removes the container afterwards; a hook
// error fails the task with its code.
func TestContainerTaskHook(t *testing.T) {
	d := dirs(t)
	fc := &fakeContainer{argv: []string{"/bin/sh", "-c", "echo from-runtime; exit 3"}}
	var job ContainerJob
	cfg := Config{Container: func(_ context.Context, j ContainerJob) (ContainerRun, error) {
		job = j
		if j.Settings.ImageName == "bad" {
			return nil, &UserError{Code: CodeContainerInvalidImage, Message: "no such image"}
		}
		if j.Settings.ImageName == "broken" {
			return nil, errors.New("disk full")
		}
		return fc, nil
	}}
	rep := RunTask(context.Background(), cfg, d, nodeproto.TaskLease{LeaseID: "l", JobID: "j", TaskID: "t", CommandLine: "ignored",
		Environment: []nodeproto.EnvironmentSetting{{Name: "X", Value: "1"}}, Container: &nodeproto.ContainerSettings{ImageName: "img"}})
	if rep.ExitCode == nil || *rep.ExitCode != 3 || !fc.removed || fc.killed {
		t.Fatalf("report %+v, container %+v", rep, fc)
	}
	if out := read(t, filepath.Join(TaskDir(d, "j", "t"), "stdout.txt")); out != "from-runtime\n" {
		t.Fatalf("stdout %q", out)
	}
	if job.CommandLine != "ignored" || !slices.Contains(job.Env, "X=1") || job.JobID != "j" || !strings.HasSuffix(job.WorkDir, "/wd") {
		t.Fatalf("job %+v", job)
	}
	for img, code := range map[string]string{"bad": CodeContainerInvalidImage, "broken": CodeContainerCouldNotBeStarted} {
		rep := RunTask(context.Background(), cfg, d, nodeproto.TaskLease{LeaseID: "l", JobID: "j", TaskID: "t", CommandLine: "x",
			Container: &nodeproto.ContainerSettings{ImageName: img}})
		if rep.Failure == nil || rep.Failure.Code != code {
			t.Fatalf("%s: %+v", img, rep.Failure)
		}
	}
}
