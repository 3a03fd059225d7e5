package container

import (
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestArgs(t *testing.T) {
	plain := &Image{Config: v1.Config{Cmd: []string{"sh", "-c", "echo default"}}}
	entry := &Image{Config: v1.Config{Entrypoint: []string{"/entry.sh"}, Cmd: []string{"--default"}}}
	for _, c := range []struct {
		img  *Image
		line string
		opts Options
		want []string
	}{
		{plain, `sh -c 'echo "a b"; exit 3'`, Options{}, []string{"sh", "-c", `echo "a b"; exit 3`}},
		{plain, "", Options{}, []string{"sh", "-c", "echo default"}},
		{entry, "x y", Options{}, []string{"/entry.sh", "x", "y"}},
		{entry, "", Options{}, []string{"/entry.sh", "--default"}},
		{entry, "", Options{Entrypoint: []string{"/bin/sh", "-", "python"}}, []string{"/bin/sh", "-", "python"}},
		{entry, "run.py", Options{Entrypoint: []string{"python"}}, []string{"python", "run.py"}},
	} {
		got, err := Args(c.img, c.line, c.opts)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Args(%q) = %q %v, want %q", c.line, got, err, c.want)
		}
	}
	if _, err := Args(&Image{}, "", Options{}); err == nil {
		t.Error("no command at all was accepted")
	}
	if _, err := Args(plain, `sh -c 'unterminated`, Options{}); err == nil {
		t.Error("an unterminated quote was accepted")
	}
}

func TestParseOptions(t *testing.T) {
	o, err := ParseOptions(`--rm --init --network=host -w /work -e A=1 --env B -e UNSET --user 1000:2000 --entrypoint "/bin/sh -c"`, []string{"B=from-task"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Workdir != "/work" || !slices.Equal(o.Env, []string{"A=1", "B=from-task"}) || o.User.UID != 1000 || o.User.GID != 2000 ||
		!slices.Equal(o.Entrypoint, []string{"/bin/sh", "-c"}) {
		t.Fatalf("options %+v", o)
	}
	for _, bad := range []string{"--privileged", "-v /:/host", "--network bridge", "--cap-add ALL", "-w relative", "-u alice", "-u 70000",
		"--user", "--security-opt seccomp=unconfined", "--pid=host", "'unterminated"} {
		if _, err := ParseOptions(bad, nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSpec(t *testing.T) {
	img := &Image{Config: v1.Config{Env: []string{"PATH=/image/bin", "IMG=1", "SHARED=image"}, WorkingDir: "/app", Cmd: []string{"true"}}}
	in := SpecInput{Image: img, RootFS: "/r", Env: []string{"PATH=/usr/bin", "SHARED=task", "AZ_BATCH_TASK_ID=t"},
		Options: Options{Env: []string{"SHARED=opt"}}, TaskWorkdir: "/mnt/batch/tasks/x/wd", UID: 1000, GID: 1000,
		Mounts: []Mount{{Path: "/mnt/batch/tasks/shared", ReadOnly: true}}}
	s, err := Spec(in)
	if err != nil {
		t.Fatal(err)
	}
	p := s.Process
	if !slices.Equal(p.Env, []string{"PATH=/image/bin", "IMG=1", "SHARED=opt", "AZ_BATCH_TASK_ID=t"}) {
		t.Errorf("env %q", p.Env)
	}
	if p.Cwd != in.TaskWorkdir || p.User.UID != 1000 || !p.NoNewPrivileges || len(p.Capabilities.Effective) != 0 {
		t.Errorf("process %+v caps %+v", p, p.Capabilities)
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == "network" || ns.Type == "user" {
			t.Errorf("the container has its own %s namespace", ns.Type)
		}
	}
	last := s.Mounts[len(s.Mounts)-1]
	if last.Destination != "/mnt/batch/tasks/shared" || !slices.Contains(last.Options, "ro") || !slices.Contains(last.Options, "nosuid") {
		t.Errorf("bind mount %+v", last)
	}
	in.ImageWorkdir, in.UID, in.GID = true, 0, 0
	if s, _ := Spec(in); s.Process.Cwd != "/app" || len(s.Process.Capabilities.Effective) == 0 {
		t.Errorf("image workdir / root: %q %+v", s.Process.Cwd, s.Process.Capabilities)
	}
}

// FuzzParseOptions: any containerRunOptions string parses or is refused,
// never panics, and whatever is accepted stays inside the supported set.
func FuzzParseOptions(f *testing.F) {
	for _, s := range []string{"--rm -w /x -e A=1", "--entrypoint '/bin/sh -c'", "-u 0:0", "--privileged", `"`, "-e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseOptions(s, []string{"A=1"})
		if err != nil {
			return
		}
		if o.Workdir != "" && !strings.HasPrefix(o.Workdir, "/") {
			t.Fatalf("relative workdir %q from %q", o.Workdir, s)
		}
		if o.User != nil && (o.User.UID >= 65536 || o.User.GID >= 65536) {
			t.Fatalf("user %+v from %q", o.User, s)
		}
		for _, e := range o.Env {
			if !strings.Contains(e, "=") {
				t.Fatalf("env %q from %q", e, s)
			}
		}
	})
}
