package sandbox

import (
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
)

func buildOf(mod func(*debug.BuildInfo)) *debug.BuildInfo {
	b := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/cobaltbatch/cobalt", Version: "(devel)"},
		Deps: []*debug.Module{
			{Path: "golang.org/x/sys", Version: "v0.50.0", Sum: "h1:a"},
			{Path: "github.com/spf13/cobra", Version: "v1.10.2", Sum: "h1:b"},
		},
		Settings: []debug.BuildSetting{{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "5272bee"}, {Key: "vcs.modified", Value: "false"}},
	}
	if mod != nil {
		mod(b)
	}
	return b
}

func setting(b *debug.BuildInfo, key, value string) {
	for i := range b.Settings {
		if b.Settings[i].Key == key {
			b.Settings[i].Value = value
			return
		}
	}
	b.Settings = append(b.Settings, debug.BuildSetting{Key: key, Value: value})
}

// TestSameBuild: an init is used only when its build information proves
// the host's source: a stale or foreign binary beside cobalt never runs
// nodes.
func TestSameBuild(t *testing.T) {
	host := buildOf(nil)
	// The init links fewer modules: a subset is the same build.
	subset := buildOf(func(b *debug.BuildInfo) { b.Deps = b.Deps[:1] })
	if err := sameBuild(host, subset); err != nil {
		t.Fatalf("same revision, fewer modules: %v", err)
	}
	released := func(b *debug.BuildInfo) {
		b.Main.Version, b.Main.Sum = "v1.2.0", "h1:m"
		b.Settings = b.Settings[:2]
	}
	if err := sameBuild(buildOf(released), buildOf(released)); err != nil {
		t.Fatalf("same release: %v", err)
	}
	for name, init := range map[string]*debug.BuildInfo{
		"another revision":    buildOf(func(b *debug.BuildInfo) { setting(b, "vcs.revision", "869908a") }),
		"modified work tree":  buildOf(func(b *debug.BuildInfo) { setting(b, "vcs.modified", "true") }),
		"another Go":          buildOf(func(b *debug.BuildInfo) { b.GoVersion = "go1.26.7" }),
		"another module":      buildOf(func(b *debug.BuildInfo) { b.Main.Path = "example.com/other" }),
		"another dependency":  buildOf(func(b *debug.BuildInfo) { b.Deps[0].Version = "v0.49.0" }),
		"a replaced one":      buildOf(func(b *debug.BuildInfo) { b.Deps[0].Replace = &debug.Module{Path: "../sys"} }),
		"a module host lacks": buildOf(func(b *debug.BuildInfo) { b.Deps = append(b.Deps, &debug.Module{Path: "evil", Version: "v1"}) }),
		"other build tags":    buildOf(func(b *debug.BuildInfo) { setting(b, "-tags", "debug") }),
		"another release":     buildOf(func(b *debug.BuildInfo) { released(b); b.Main.Version = "v1.1.0" }),
	} {
		if err := sameBuild(host, init); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := sameBuild(buildOf(released), buildOf(func(b *debug.BuildInfo) { released(b); b.Main.Sum = "h1:x" })); err == nil {
		t.Error("a release with another checksum: accepted")
	}
	noVCS := func(b *debug.BuildInfo) { b.Settings = b.Settings[:2] }
	if err := sameBuild(buildOf(noVCS), buildOf(noVCS)); err == nil {
		t.Error("two development builds without a revision: accepted")
	}
	dirty := func(b *debug.BuildInfo) { setting(b, "vcs.modified", "true") }
	if err := sameBuild(buildOf(dirty), buildOf(dirty)); err == nil {
		t.Error("two builds from a modified tree: accepted")
	}
}

var builtInit struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// buildInit builds cmd/cobalt-node-init once per test binary.
func buildInit(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	builtInit.once.Do(func() {
		dir, err := os.MkdirTemp("", "cobalt-node-init-")
		if err != nil {
			builtInit.err = err
			return
		}
		builtInit.path = filepath.Join(dir, InitName)
		cmd := exec.Command("go", "build", "-o", builtInit.path, "../../cmd/cobalt-node-init")
		builtInit.out, builtInit.err = cmd.CombinedOutput()
	})
	if builtInit.err != nil {
		t.Fatalf("go build cobalt-node-init: %v\n%s", builtInit.err, builtInit.out)
	}
	return builtInit.path
}

// TestInitBeside: the init beside the executable is opened, and its own
// build information is what is judged; it is refused, with the reason,
// when the judgement fails or the file is not executable; none beside is
// no reason at all.
func TestInitBeside(t *testing.T) {
	built := buildInit(t)
	want, err := buildinfo.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "cobalt")
	var judged *debug.BuildInfo
	accept := func(info *debug.BuildInfo) error { judged = info; return nil }
	if f, why := initBeside(exe, accept); f != nil || why != "" || judged != nil {
		t.Fatalf("nothing beside: %v %q", f, why)
	}
	b, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	beside := filepath.Join(dir, InitName)
	if err := os.WriteFile(beside, b, 0o755); err != nil {
		t.Fatal(err)
	}
	f, why := initBeside(exe, accept)
	if f == nil || why != "" {
		t.Fatalf("an accepted init: %v %q", f, why)
	}
	f.Close()
	if f.Name() != beside || judged == nil || judged.Path != want.Path || judged.GoVersion != want.GoVersion {
		t.Fatalf("opened %s, judged %+v", f.Name(), judged)
	}
	refuse := func(info *debug.BuildInfo) error { return sameBuild(buildOf(nil), info) }
	if f, why := initBeside(exe, refuse); f != nil || !strings.Contains(why, "another build") {
		t.Fatalf("another build: %v %q", f, why)
	}
	if err := os.Chmod(beside, 0o644); err != nil {
		t.Fatal(err)
	}
	if f, why := initBeside(exe, accept); f != nil || !strings.Contains(why, "not an executable") {
		t.Fatalf("not executable: %v %q", f, why)
	}
	if err := os.Remove(beside); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(beside, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if f, why := initBeside(exe, accept); f != nil || !strings.Contains(why, "no Go build information") {
		t.Fatalf("a script: %v %q", f, why)
	}
}

// TestInitExecutable: with nothing beside it, an executable runs its own
// inits; with an init beside it that this test binary's build cannot be
// matched to (a test binary is not a main module's release or commit),
// the executable still does, and the reason names the file.
func TestInitExecutable(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "cobalt")
	if path, why := InitExecutable(exe); path != exe || why != "" {
		t.Fatalf("nothing beside: %q %q", path, why)
	}
	b, err := os.ReadFile(buildInit(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, InitName), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if path, why := InitExecutable(exe); path != exe || !strings.Contains(why, filepath.Join(dir, InitName)+" is from another build") {
		t.Fatalf("an init from another build beside: %q %q", path, why)
	}
}
