package sandbox

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
)

// A node init is, by default, this binary re-executed (/proc/self/exe). That
// binary is the whole of Cobalt, and starting it costs every package's
// initialisation and the page faults of a large executable once per node
// (about 39 ms of CPU against 16 ms for an init alone, on a 2-core VM).
// A cobalt-node-init built beside it (cmd/cobalt-node-init: the init and
// nothing else) starts faster and takes less memory per node, and is used
// instead, but only when its build information proves it was built from the
// same source: the init and its host speak a private protocol that changes
// between commits, and a stale binary left beside a new one must not run
// nodes.

// InitExecutable is the executable that node inits started by a process
// running exe (this binary's build) run: the cobalt-node-init beside exe
// when that is from the same build, else exe, with the reason when one
// beside it is not used.
func InitExecutable(exe string) (path, why string) {
	f, why := initBeside(exe, sameBuildAsThis)
	if f == nil {
		return exe, why
	}
	f.Close()
	return f.Name(), ""
}

// sameBuildAsThis is sameBuild with this binary's build information.
func sameBuildAsThis(init *debug.BuildInfo) error {
	self, _ := debug.ReadBuildInfo()
	return sameBuild(self, init)
}

// initBeside opens the cobalt-node-init beside exe when accept takes its
// build information (StartSpawner's accept is sameBuild with this binary's).
// It returns nil and the reason when there is none to use (the reason is
// empty when there simply is no such file).
func initBeside(exe string, accept func(*debug.BuildInfo) error) (*os.File, string) {
	path := filepath.Join(filepath.Dir(exe), InitName)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ""
	}
	if err != nil {
		return nil, err.Error()
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		f.Close()
		return nil, path + " is not an executable file"
	}
	// Read from the open file: what is checked is what will run.
	info, err := buildinfo.Read(f)
	if err != nil {
		f.Close()
		return nil, fmt.Sprintf("%s: no Go build information: %v", path, err)
	}
	if err := accept(info); err != nil {
		f.Close()
		return nil, fmt.Sprintf("%s is from another build (%v)", path, err)
	}
	return f, ""
}

// sameBuild reports (nil) whether the init's build information proves that
// it was built from the same source as host: the same Go toolchain and
// build settings, the same versions of every module the init links, and the
// same main module, identified either by a released version with its
// checksum or by an unmodified version-control revision. A build from a
// modified work tree proves nothing.
func sameBuild(host, init *debug.BuildInfo) error {
	if host == nil || init == nil {
		return errors.New("no build information")
	}
	if host.GoVersion != init.GoVersion {
		return fmt.Errorf("toolchain %s, not %s", init.GoVersion, host.GoVersion)
	}
	if host.Main.Path != init.Main.Path {
		return fmt.Errorf("module %s, not %s", init.Main.Path, host.Main.Path)
	}
	hs, is := settings(host), settings(init)
	if len(hs) != len(is) {
		return errors.New("other build settings")
	}
	for k, v := range hs {
		if is[k] != v {
			return fmt.Errorf("build setting %s is %q, not %q", k, is[k], v)
		}
	}
	released := host.Main.Version != "" && host.Main.Version != "(devel)" && host.Main.Sum != ""
	switch {
	case released:
		if init.Main.Version != host.Main.Version || init.Main.Sum != host.Main.Sum {
			return fmt.Errorf("version %s, not %s", init.Main.Version, host.Main.Version)
		}
	case hs["vcs.revision"] == "":
		return errors.New("neither has a released version or a version-control revision")
	case hs["vcs.modified"] != "false":
		return errors.New("built from a modified work tree")
	}
	deps := map[string]*debug.Module{}
	for _, m := range host.Deps {
		deps[m.Path] = m
	}
	for _, m := range init.Deps {
		h := deps[m.Path]
		if h == nil || !sameModule(h, m) {
			return fmt.Errorf("another version of %s", m.Path)
		}
	}
	return nil
}

func settings(info *debug.BuildInfo) map[string]string {
	m := make(map[string]string, len(info.Settings))
	for _, s := range info.Settings {
		m[s.Key] = s.Value
	}
	return m
}

func sameModule(a, b *debug.Module) bool {
	if a.Path != b.Path || a.Version != b.Version || a.Sum != b.Sum || (a.Replace == nil) != (b.Replace == nil) {
		return false
	}
	return a.Replace == nil || sameModule(a.Replace, b.Replace)
}
