package container

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// EntryPath is the path, relative to the root it is unpacked into, of a tar
// entry named name: the name is cleaned as if rooted ("/a/../../b" is
// "b"), so no name leads out lexically; "" means the root itself (skipped).
// Names with a NUL byte are refused.
func EntryPath(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("tar entry %q: NUL in the name", name)
	}
	p := path.Clean("/" + name)
	return strings.TrimPrefix(p, "/"), nil
}

// UntarLimits bound what one image may unpack to.
type UntarLimits struct {
	// MaxBytes bounds the total size of regular files (0: no bound).
	MaxBytes int64
	// MaxEntries bounds the number of entries (0: no bound).
	MaxEntries int
}

// Untar unpacks a flattened image filesystem (mutate.Extract's stream) into
// the directory root. Every path is resolved inside root as if root were
// "/" (pathrs-lite, openat2 RESOLVE_IN_ROOT where the kernel has it): no
// "..", absolute symlink or symlinked directory in the archive or already
// under root leads a write outside it, and the last component is created
// with *at calls that never follow a link. Device nodes are skipped (a node
// may not make them); fifos are made. Owners are kept where the caller may
// give them (inside a user namespace, the mapped ids), modes always.
func Untar(r io.Reader, root string, lim UntarLimits) error {
	rootF, err := os.OpenFile(root, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer rootF.Close()
	tr := tar.NewReader(r)
	var total int64
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the image: %w", err)
		}
		if lim.MaxEntries > 0 && n >= lim.MaxEntries {
			return fmt.Errorf("the image has more than %d entries", lim.MaxEntries)
		}
		if hdr.Typeflag == tar.TypeReg {
			total += hdr.Size
			if lim.MaxBytes > 0 && total > lim.MaxBytes {
				return fmt.Errorf("the image unpacks to more than %d bytes", lim.MaxBytes)
			}
		}
		if err := unpackEntry(rootF, hdr, tr); err != nil {
			return fmt.Errorf("unpack %q: %w", hdr.Name, err)
		}
	}
}

func unpackEntry(root *os.File, hdr *tar.Header, r io.Reader) error {
	rel, err := EntryPath(hdr.Name)
	if err != nil {
		return err
	}
	if rel == "" {
		return nil // the root itself keeps its own owner and mode
	}
	switch hdr.Typeflag {
	case tar.TypeChar, tar.TypeBlock, tar.TypeXGlobalHeader:
		return nil
	}
	dir, base := path.Split(rel)
	parent, err := pathrs.MkdirAllHandle(root, "/"+dir, 0o755)
	if err != nil {
		return err
	}
	defer parent.Close()
	pfd := int(parent.Fd())
	mode := uint32(hdr.Mode & 0o7777)
	var st unix.Stat_t
	exists := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	if exists && !(hdr.Typeflag == tar.TypeDir && st.Mode&unix.S_IFMT == unix.S_IFDIR) {
		// A later layer's entry replaces an earlier one; a directory in
		// its way goes with its contents (never through a link).
		if err := removeAt(parent, base); err != nil {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
	case tar.TypeReg:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), base)
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		if strings.IndexByte(hdr.Linkname, 0) >= 0 {
			return errors.New("NUL in the link target")
		}
		return ownAt(pfd, base, hdr, unix.Symlinkat(hdr.Linkname, pfd, base))
	case tar.TypeLink:
		return linkAt(root, pfd, base, hdr.Linkname)
	case tar.TypeFifo:
		if err := unix.Mknodat(pfd, base, unix.S_IFIFO|0o600, 0); err != nil {
			return err
		}
	default:
		return nil // other types (for example GNU sparse headers) carry no file
	}
	if err := ownAt(pfd, base, hdr, nil); err != nil {
		return err
	}
	// After the owner: a chown clears set-id bits.
	return unix.Fchmodat(pfd, base, mode, 0)
}

// ownAt gives base (in directory pfd) the entry's owner when the caller may;
// ids this user namespace does not map are left to the caller's.
func ownAt(pfd int, base string, hdr *tar.Header, err error) error {
	if err != nil {
		return err
	}
	err = unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) {
		return nil
	}
	return err
}

// linkAt makes base (in directory pfd) a hard link to the regular file
// target names inside root.
func linkAt(root *os.File, pfd int, base, target string) error {
	rel, err := EntryPath(target)
	if err != nil || rel == "" {
		return fmt.Errorf("hard link to %q", target)
	}
	f, err := pathrs.OpenatInRoot(root, "/"+rel)
	if err != nil {
		return err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("hard link to %q, which is not a regular file", target)
	}
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), pfd, base, unix.AT_SYMLINK_FOLLOW)
}

// removeAt removes base (in dir) with everything under it, never following
// a link.
func removeAt(dir *os.File, base string) error {
	r, err := os.OpenRoot("/proc/self/fd/" + strconv.Itoa(int(dir.Fd())))
	if err != nil {
		return err
	}
	defer r.Close()
	return r.RemoveAll(base)
}
