package nodefiles

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Info describes one file or directory.
type Info struct {
	// Name is the path relative to the listed directory ("/" separated).
	Name    string      `json:"name"`
	IsDir   bool        `json:"isDir"`
	Size    int64       `json:"size"`
	ModTime time.Time   `json:"modTime"`
	Mode    fs.FileMode `json:"mode"`
}

// Errors a Source returns; other errors are failures of the source.
var (
	// ErrNotExist: no such file (or the directory cannot be opened).
	ErrNotExist = fs.ErrNotExist
	// ErrNotServed: the file exists but is not a directory or a regular
	// file with a single link inside the directory.
	ErrNotServed = errors.New("the file is not served: only regular files with a single link, inside the directory, are")
	// ErrIsDir: a directory was to be deleted without recursive.
	ErrIsDir = errors.New("the directory cannot be deleted unless recursive is true")
	// ErrInvalidPath: a path is absolute, holds "..", or a NUL.
	ErrInvalidPath = errors.New("the file path is not valid")
	// ErrUnreachable: the files are on another machine that did not answer.
	ErrUnreachable = errors.New("the host of the node is out of reach")
)

// MaxListed bounds a listing.
const MaxListed = 10000

// Source is a node's files. dir is a directory relative to the node's
// root (a task's directory, or "" for the node root), opened so that no
// symbolic link in it leads outside the node; name is relative to dir, and
// nothing below dir leads outside it.
type Source interface {
	List(ctx context.Context, dir string, recursive bool) ([]Info, error)
	Stat(ctx context.Context, dir, name string) (Info, error)
	// Open returns length bytes of the file from offset.
	Open(ctx context.Context, dir, name string, offset, length int64) (io.ReadCloser, error)
	Remove(ctx context.Context, dir, name string, recursive bool) error
}

// ValidNodeID reports whether id is a node ID that is a single path element,
// so that a node's directory named by it stays under the nodes' directory.
func ValidNodeID(id string) bool {
	return id != "" && id != "." && id != ".." && len(id) <= 256 && filepath.Base(id) == id && !strings.ContainsAny(id, "/\\\x00")
}

// Clean validates a relative path: no leading "/", no "..", no NUL;
// Windows separators become "/". "" is the directory itself.
func Clean(p string) (string, error) {
	p = strings.ReplaceAll(p, "\\", "/")
	if strings.ContainsRune(p, 0) || strings.HasPrefix(p, "/") {
		return "", ErrInvalidPath
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", ErrInvalidPath
		}
	}
	return path.Clean("/" + p)[1:], nil
}

// Local is a Source on this machine: the node's root directory.
type Local string

// open opens the node root by its path (Cobalt made it), then dir through
// it, so that no symbolic link in dir's components leads outside the node.
func (l Local) open(dir string) (*os.Root, error) {
	dir, err := Clean(dir)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(string(l))
	if err != nil || dir == "" {
		return root, err
	}
	defer root.Close()
	return root.OpenRoot(filepath.FromSlash(dir))
}

// servable reports whether a file is shown and served: a directory, or a
// regular file with no other hard link (a task could link a file it may not
// read into its directory and have the service read it). Devices, FIFOs and
// sockets are never opened.
func servable(info fs.FileInfo) bool {
	if info.IsDir() {
		return true
	}
	return info.Mode().IsRegular() && linkCount(info) <= 1
}

func infoOf(name string, fi fs.FileInfo) Info {
	i := Info{Name: name, IsDir: fi.IsDir(), Size: fi.Size(), ModTime: fi.ModTime(), Mode: fi.Mode().Perm()}
	if i.IsDir {
		i.Mode |= fs.ModeDir
	}
	return i
}

// List lists dir (recursively with recursive), in name order, at most
// MaxListed entries. A missing dir lists nothing; entries not served are
// left out; a symbolic link is listed as what it leads to when that is
// inside dir and servable.
func (l Local) List(_ context.Context, dir string, recursive bool) ([]Info, error) {
	root, err := l.open(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if errors.Is(err, ErrInvalidPath) {
			return nil, err
		}
		return nil, ErrNotServed
	}
	defer root.Close()
	var items []Info
	walkErr := fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || name == "." {
			return nil // vanished or unreadable: skip
		}
		if len(items) >= MaxListed {
			return fs.SkipAll
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			// Resolved through the root: a link leading outside fails.
			if info, err = root.Stat(filepath.FromSlash(name)); err != nil {
				return nil
			}
		}
		if !servable(info) {
			return nil
		}
		items = append(items, infoOf(name, info))
		if d.IsDir() && !recursive {
			return fs.SkipDir
		}
		return nil
	})
	if walkErr != nil {
		return nil, walkErr
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	return items, nil
}

// openFile opens dir/name without blocking (a FIFO would hang an open) and
// only if it is servable.
func (l Local) openFile(dir, name string) (*os.File, Info, error) {
	name, err := Clean(name)
	if err != nil || name == "" {
		return nil, Info{}, ErrInvalidPath
	}
	root, err := l.open(dir)
	if err != nil {
		return nil, Info{}, ErrNotExist
	}
	defer root.Close()
	f, err := root.OpenFile(filepath.FromSlash(name), readFlags, 0)
	if err != nil {
		return nil, Info{}, ErrNotExist
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Info{}, ErrNotExist
	}
	if !servable(fi) {
		f.Close()
		return nil, Info{}, ErrNotServed
	}
	return f, infoOf(name, fi), nil
}

// Stat returns the information of a servable file.
func (l Local) Stat(_ context.Context, dir, name string) (Info, error) {
	f, info, err := l.openFile(dir, name)
	if err != nil {
		return info, err
	}
	f.Close()
	return info, nil
}

// Open returns up to length bytes of a servable file from offset.
func (l Local) Open(_ context.Context, dir, name string, offset, length int64) (io.ReadCloser, error) {
	f, _, err := l.openFile(dir, name)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return limited{io.LimitReader(f, length), f}, nil
}

type limited struct {
	io.Reader
	io.Closer
}

// Remove deletes a file, or a directory with recursive. Removal never
// follows a symbolic link: a link is removed, not what it leads to.
func (l Local) Remove(_ context.Context, dir, name string, recursive bool) error {
	name, err := Clean(name)
	if err != nil || name == "" {
		return ErrInvalidPath
	}
	root, err := l.open(dir)
	if err != nil {
		return ErrNotExist
	}
	defer root.Close()
	native := filepath.FromSlash(name)
	info, err := root.Lstat(native)
	if err != nil {
		return ErrNotExist
	}
	if info.IsDir() {
		if !recursive {
			return ErrIsDir
		}
		return root.RemoveAll(native)
	}
	return root.Remove(native)
}
