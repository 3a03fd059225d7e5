package container

import (
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/google/shlex"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Options are the containerRunOptions a task may give, docker's spelling.
// Supported: --rm (every container is removed anyway), -w/--workdir,
// -e/--env, -u/--user (numeric uid[:gid], or root), --entrypoint, and the
// no-ops --network=host/--net=host (containers share the node's network
// namespace) and --init. Every other option is refused.
type Options struct {
	Workdir    string
	Env        []string
	User       *specs.User
	Entrypoint []string
}

// OptionError is a containerRunOptions value the node cannot honour.
type OptionError struct{ Msg string }

func (e *OptionError) Error() string { return e.Msg }

// ParseOptions parses containerRunOptions; taskEnv resolves "-e NAME"
// without a value.
func ParseOptions(s string, taskEnv []string) (Options, error) {
	var o Options
	words, err := shlex.Split(s)
	if err != nil {
		return o, &OptionError{"The containerRunOptions cannot be parsed: " + err.Error()}
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		opt, val, hasVal := strings.Cut(w, "=")
		needVal := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(words) {
				return "", &OptionError{"The container run option " + opt + " needs a value."}
			}
			i++
			return words[i], nil
		}
		switch opt {
		case "--rm", "--init":
			if hasVal && val != "true" {
				return o, &OptionError{"The container run option " + w + " is not supported."}
			}
		case "--network", "--net":
			v, err := needVal()
			if err != nil {
				return o, err
			}
			if v != "host" {
				return o, &OptionError{"The container run option " + opt + " " + v + " is not supported: containers share the node's network."}
			}
		case "-w", "--workdir":
			v, err := needVal()
			if err != nil {
				return o, err
			}
			if !path.IsAbs(v) {
				return o, &OptionError{"The container working directory " + strconv.Quote(v) + " is not absolute."}
			}
			o.Workdir = path.Clean(v)
		case "-e", "--env":
			v, err := needVal()
			if err != nil {
				return o, err
			}
			if !strings.Contains(v, "=") {
				for _, e := range taskEnv {
					if strings.HasPrefix(e, v+"=") {
						v = e
					}
				}
				if !strings.Contains(v, "=") {
					continue // docker drops an unset variable
				}
			}
			o.Env = append(o.Env, v)
		case "-u", "--user":
			v, err := needVal()
			if err != nil {
				return o, err
			}
			u, err := parseUser(v)
			if err != nil {
				return o, err
			}
			o.User = u
		case "--entrypoint":
			v, err := needVal()
			if err != nil {
				return o, err
			}
			if o.Entrypoint, err = shlex.Split(v); err != nil {
				return o, &OptionError{"The --entrypoint value cannot be parsed: " + err.Error()}
			}
			if o.Entrypoint == nil {
				o.Entrypoint = []string{}
			}
		default:
			return o, &OptionError{"The container run option " + strconv.Quote(w) + " is not supported; supported: --rm, --workdir/-w, --env/-e, --user/-u, --entrypoint."}
		}
	}
	return o, nil
}

func parseUser(v string) (*specs.User, error) {
	if v == "root" {
		return &specs.User{}, nil
	}
	us, gs, hasG := strings.Cut(v, ":")
	uid, err := strconv.ParseUint(us, 10, 32)
	if err != nil || uid >= 65536 {
		return nil, &OptionError{"The container user " + strconv.Quote(v) + " is not supported: give a numeric uid[:gid] below 65536 or root."}
	}
	gid := uid
	if hasG {
		if gid, err = strconv.ParseUint(gs, 10, 32); err != nil || gid >= 65536 {
			return nil, &OptionError{"The container group in " + strconv.Quote(v) + " is not a numeric gid below 65536."}
		}
	}
	return &specs.User{UID: uint32(uid), GID: uint32(gid)}, nil
}

// Mount is a node directory bound into a container at the same path.
type Mount struct {
	Path     string
	ReadOnly bool
}

// SpecInput is what a task's config.json is made of.
type SpecInput struct {
	Image       *Image
	RootFS      string // the task's root filesystem (overlay of the image)
	CommandLine string
	Options     Options
	// Env is the task's environment (Batch's AZ_BATCH_* variables and the
	// task's environment settings).
	Env []string
	// ImageWorkdir says the process starts in the image's working
	// directory (containerImageDefault); otherwise in TaskWorkdir.
	ImageWorkdir bool
	TaskWorkdir  string
	Mounts       []Mount
	// UID and GID are the task user's, unless Options.User says otherwise.
	UID, GID uint32
}

// defaultCaps is docker's default capability set, what root in a container
// keeps; other users keep none.
var defaultCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}

// Args is a container's argument vector, docker's rule (which Batch
// documents for container tasks): the entrypoint (the image's, or
// --entrypoint's, which also drops the image's Cmd) followed by the
// command line split into words as a shell would but not run by one, or by
// the image's Cmd when the command line is empty.
func Args(img *Image, commandLine string, o Options) ([]string, error) {
	entry, cmd := img.Config.Entrypoint, img.Config.Cmd
	if o.Entrypoint != nil {
		entry, cmd = o.Entrypoint, nil
	}
	if strings.TrimSpace(commandLine) != "" {
		words, err := shlex.Split(commandLine)
		if err != nil {
			return nil, &OptionError{"The command line cannot be split into words: " + err.Error()}
		}
		cmd = words
	}
	args := append(slices.Clone(entry), cmd...)
	if len(args) == 0 {
		return nil, &OptionError{"The task has no command line and its image no entrypoint or command."}
	}
	return args, nil
}

// Spec makes a task's runtime spec: a container in its own mount, PID, IPC
// and UTS namespaces that shares the node's user and network namespaces
// (so the node's IMDS answers it), with no new privileges, docker's
// default capabilities for root and none for other users, the image's
// environment under the task's, and the Batch directories at their paths.
func Spec(in SpecInput) (*specs.Spec, error) {
	args, err := Args(in.Image, in.CommandLine, in.Options)
	if err != nil {
		return nil, err
	}
	cwd := in.TaskWorkdir
	if in.ImageWorkdir {
		cwd = in.Image.Config.WorkingDir
	}
	if in.Options.Workdir != "" {
		cwd = in.Options.Workdir
	}
	if cwd == "" || !path.IsAbs(cwd) {
		cwd = "/"
	}
	user := specs.User{UID: in.UID, GID: in.GID}
	if in.Options.User != nil {
		user = *in.Options.User
	}
	var caps []string
	if user.UID == 0 {
		caps = defaultCaps
	}
	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: in.RootFS},
		Process: &specs.Process{
			User: user, Args: args, Env: mergeEnv(in.Image.Config.Env, in.Env, in.Options.Env), Cwd: cwd,
			NoNewPrivileges: true,
			Capabilities:    &specs.LinuxCapabilities{Bounding: defaultCaps, Effective: caps, Permitted: caps},
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "none", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace}},
			MaskedPaths: []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
				"/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
			Seccomp:       seccompProfile(),
		},
	}
	for _, m := range in.Mounts {
		opts := []string{"rbind", "nosuid", "nodev"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: m.Path, Type: "bind", Source: m.Path, Options: opts})
	}
	return s, nil
}

// mergeEnv is the image's environment overridden by the task's (whose
// PATH, the node's, gives way to an image's own) and then by -e options.
func mergeEnv(image, task, opts []string) []string {
	var out []string
	idx := map[string]int{}
	set := func(kv string, keepExisting bool) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			if !keepExisting {
				out[i] = kv
			}
			return
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	for _, e := range image {
		set(e, false)
	}
	for _, e := range task {
		set(e, strings.HasPrefix(e, "PATH="))
	}
	for _, e := range opts {
		set(e, false)
	}
	return out
}
