//go:build linux

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cobaltbatch/cobalt/internal/agent/container"
	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// Where a node keeps its containers: images per digest and one bundle per
// running container, both closed to every user but the node's root; and
// runc's state, on the node's /run tmpfs.
const (
	imagesDir  = NodeRoot + "/volatile/containers/images"
	bundlesDir = NodeRoot + "/volatile/containers/run"
	runcState  = "/run/cobalt-runc"
)

// maxImageBytes bounds what one image may unpack to on a node.
const maxImageBytes = 32 << 30

// CodeImagePullFailed is the node error of a pool image the node could not
// pull before it became idle.
const CodeImagePullFailed = "ContainerImagePullFailed"

// containers runs a container pool's images and container tasks in the node.
type containers struct {
	cfg     nodeproto.ContainerConfiguration
	puller  *container.Puller
	runtime *container.Runtime
	broken  error // the node cannot run containers, and why
}

func newContainers(cfg *nodeproto.ContainerConfiguration, tr http.RoundTripper,
	token func(ctx context.Context, identityResourceID, resource string) (string, error)) (*containers, error) {
	c := &containers{cfg: *cfg,
		puller:  &container.Puller{Dir: imagesDir, Transport: tr, Token: token, Limits: container.UntarLimits{MaxEntries: 1 << 20, MaxBytes: maxImageBytes}},
		runtime: &container.Runtime{StateDir: runcState, BundleDir: bundlesDir}}
	// Bundles of an earlier init of this node are dead: their mounts went
	// with its mount namespace.
	if err := os.RemoveAll(bundlesDir); err != nil {
		return nil, err
	}
	for _, d := range []string{NodeRoot + "/volatile/containers", imagesDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, err
		}
	}
	// runc finds its cgroups through a cgroup mount: the node's cgroup
	// namespace's own cgroup2 hierarchy, read-only (inside the node's user
	// namespace runc creates none and sets no limits; the node's own apply).
	if err := unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		c.broken = fmt.Errorf("cgroup2 for the container runtime: %w", err)
	}
	return c, nil
}

// pullPool pulls every image of the pool's containerImageNames and returns
// one node error per image that could not be pulled.
func (c *containers) pullPool(ctx context.Context) []nodeproto.NodeError {
	if c == nil {
		return nil
	}
	var out []nodeproto.NodeError
	for _, ref := range c.cfg.ImageNames {
		var err error
		if c.broken != nil {
			err = &container.PullError{Image: ref, Registry: "(none)", Err: c.broken}
		} else {
			_, err = c.puller.Pull(ctx, ref, nil, c.cfg.Registries)
		}
		if err == nil {
			continue
		}
		ne := nodeproto.NodeError{Code: CodeImagePullFailed, Message: err.Error(),
			Details: []nodeproto.EnvironmentSetting{{Name: "Image", Value: ref}}}
		var pe *container.PullError
		if errors.As(err, &pe) {
			ne.Details = append(ne.Details, nodeproto.EnvironmentSetting{Name: "Registry", Value: pe.Registry},
				nodeproto.EnvironmentSetting{Name: "Reason", Value: pe.Err.Error()})
		}
		out = append(out, ne)
	}
	return out
}

// prepare is taskrun's container hook: it pulls the task's image (once per
// name on this node) and makes its bundle.
func (c *containers) prepare(ctx context.Context, j taskrun.ContainerJob) (taskrun.ContainerRun, error) {
	if c.broken != nil {
		return nil, &taskrun.UserError{Code: taskrun.CodeContainerNotSupported, Message: "This node cannot run containers: " + c.broken.Error()}
	}
	opts, err := container.ParseOptions(j.Settings.RunOptions, j.Env)
	if err != nil {
		return nil, &taskrun.UserError{Code: taskrun.CodeContainerInvalidSettings, Message: err.Error()}
	}
	var uid, gid uint32
	if j.Cred != nil {
		uid, gid = j.Cred.Uid, j.Cred.Gid
		if opts.User != nil {
			// Only node root may pick another user: a non-admin task
			// could otherwise become root, or another user, of the node.
			return nil, &taskrun.UserError{Code: taskrun.CodeContainerInvalidSettings,
				Message: "The container run option --user is allowed only for tasks that run as an admin user."}
		}
	}
	img, err := c.puller.Pull(ctx, j.Settings.ImageName, j.Settings.Registry, c.cfg.Registries)
	if err != nil {
		return nil, &taskrun.UserError{Code: taskrun.CodeContainerInvalidImage, Message: err.Error()}
	}
	mounts, err := batchMounts(j)
	if err != nil {
		return nil, &taskrun.UserError{Code: taskrun.CodeContainerInvalidSettings, Message: err.Error()}
	}
	b, err := c.runtime.Prepare(j.Label, img, func(rootfs string) (*specs.Spec, error) {
		return container.Spec(container.SpecInput{Image: img, RootFS: rootfs, CommandLine: j.CommandLine, Options: opts, Env: j.Env,
			ImageWorkdir: strings.EqualFold(j.Settings.WorkingDirectory, "containerImageDefault"), TaskWorkdir: j.WorkDir,
			Mounts: mounts, UID: uid, GID: gid})
	})
	var oe *container.OptionError
	if errors.As(err, &oe) {
		return nil, &taskrun.UserError{Code: taskrun.CodeContainerInvalidSettings, Message: oe.Msg}
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// batchMounts are the node directories a container task sees at their
// Azure paths: the whole node directory when containerHostBatchBindMounts
// is absent (Batch: "all directories recursively below
// AZ_BATCH_NODE_ROOT_DIR are mapped into the container"), otherwise the
// listed ones; the task's own directory and the node's CA certificates
// always (read-only for the certificates); and the node's /etc/hosts and
// /etc/resolv.conf, read-only.
func batchMounts(j taskrun.ContainerJob) ([]container.Mount, error) {
	// The node's name resolution, read-only, as docker gives a container
	// its host's.
	var out []container.Mount
	for _, f := range []string{"/etc/hosts", "/etc/resolv.conf"} {
		if _, err := os.Stat(f); err == nil {
			out = append(out, container.Mount{Path: f, ReadOnly: true})
		}
	}
	if j.Settings.BindMounts == nil {
		return append(out, container.Mount{Path: NodeRoot}), nil
	}
	out = append(out, container.Mount{Path: j.TaskDir})
	if _, err := os.Stat(NodeRoot + "/certs"); err == nil {
		out = append(out, container.Mount{Path: NodeRoot + "/certs", ReadOnly: true})
	}
	for _, m := range j.Settings.BindMounts {
		var p string
		switch strings.ToLower(m.Source) {
		case "shared":
			p = NodeRoot + "/shared"
		case "startup":
			p = NodeRoot + "/startup"
		case "vfsmounts":
			p = NodeRoot + "/fsmounts"
		case "applications":
			p = NodeRoot + "/applications"
		case "task":
			p = j.TaskDir
		case "jobprep":
			if j.JobID == "" {
				continue
			}
			p = filepath.Join(NodeRoot, "workitems", j.JobID, "job-1", "jobpreparation")
		default:
			return nil, &container.OptionError{Msg: fmt.Sprintf("The containerHostBatchBindMounts source %q is not valid; use Shared, Startup, VfsMounts, Task, JobPrep or Applications.", m.Source)}
		}
		if _, err := os.Stat(p); err != nil {
			continue // nothing there (yet) to mount
		}
		replaced := false
		for i := range out {
			if out[i].Path == p {
				out[i].ReadOnly, replaced = m.ReadOnly, true
			}
		}
		if !replaced {
			out = append(out, container.Mount{Path: p, ReadOnly: m.ReadOnly})
		}
	}
	return out, nil
}
