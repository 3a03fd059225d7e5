//go:build linux

package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Runtime runs containers with runc.
type Runtime struct {
	// Runc is the runc binary ("runc" on PATH when empty).
	Runc string
	// StateDir is runc's --root.
	StateDir string
	// BundleDir holds one bundle per running container.
	BundleDir string
}

// Bundle is a prepared container: its directory (config.json, the
// overlay's upper and work directories, rootfs) and ID.
type Bundle struct {
	ID, Dir string
	rt      *Runtime
	mounted bool
}

var idRe = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

func (rt *Runtime) runc() string {
	if rt.Runc != "" {
		return rt.Runc
	}
	return "runc"
}

// Prepare makes a bundle for a container named after label: the image's
// filesystem under a per-container overlay upper directory (writes never
// reach the image), and config.json from spec (whose Root.Path it sets).
func (rt *Runtime) Prepare(label string, img *Image, spec func(rootfs string) (*specs.Spec, error)) (*Bundle, error) {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	id := idRe.ReplaceAllString(label, "_")
	if len(id) > 100 {
		id = id[:100]
	}
	id += "-" + hex.EncodeToString(rnd[:])
	b := &Bundle{ID: id, Dir: filepath.Join(rt.BundleDir, id), rt: rt}
	if err := os.MkdirAll(rt.BundleDir, 0o700); err != nil {
		return nil, err
	}
	// The upper directory gives the container's "/" its owner and mode:
	// root's, 0755, as an image's root is.
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"", 0o700}, {"upper", 0o755}, {"work", 0o700}, {"rootfs", 0o755}} {
		if err := os.Mkdir(filepath.Join(b.Dir, d.name), d.mode); err != nil {
			_ = b.Remove()
			return nil, err
		}
		if err := os.Chmod(filepath.Join(b.Dir, d.name), d.mode); err != nil {
			_ = b.Remove()
			return nil, err
		}
	}
	rootfs := filepath.Join(b.Dir, "rootfs")
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", img.RootFS, filepath.Join(b.Dir, "upper"), filepath.Join(b.Dir, "work"))
	if err := unix.Mount("overlay", rootfs, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		_ = b.Remove()
		return nil, fmt.Errorf("the container's root filesystem (overlay): %w", err)
	}
	b.mounted = true
	s, err := spec(rootfs)
	if err == nil {
		var data []byte
		if data, err = json.Marshal(s); err == nil {
			err = os.WriteFile(filepath.Join(b.Dir, "config.json"), data, 0o600)
		}
	}
	if err != nil {
		_ = b.Remove()
		return nil, err
	}
	return b, nil
}

// Command is `runc --root STATE run --bundle DIR ID`: it runs the
// container in the foreground, its stdio the command's, and exits with the
// container's exit code.
func (b *Bundle) Command() []string {
	return []string{b.rt.runc(), "--root", b.rt.StateDir, "run", "--bundle", b.Dir, b.ID}
}

// Kill ends the container: every process in it (its PID namespace ends
// with its first process).
func (b *Bundle) Kill() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = exec.CommandContext(ctx, b.rt.runc(), "--root", b.rt.StateDir, "kill", b.ID, "KILL").Run()
}

// Remove deletes the container (forcibly, if it still runs), unmounts its
// root filesystem and removes the bundle: nothing is left behind.
func (b *Bundle) Remove() error {
	// runc run deletes a container that exited by itself; only one that
	// did not (killed, or its runtime was) still has its state.
	if _, err := os.Lstat(filepath.Join(b.rt.StateDir, b.ID)); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = exec.CommandContext(ctx, b.rt.runc(), "--root", b.rt.StateDir, "delete", "-f", b.ID).Run()
	}
	var errs []error
	if b.mounted {
		if err := unix.Unmount(filepath.Join(b.Dir, "rootfs"), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, err)
		}
		b.mounted = false
	}
	errs = append(errs, os.RemoveAll(b.Dir))
	return errors.Join(errs...)
}
