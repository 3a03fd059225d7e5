package blobfs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// listTTL is how long a directory listing answers lookups before the
// container is asked again (blobfuse's attribute cache, shortened).
const listTTL = time.Second

// Permissions every user of the node gets, as blobfuse's default
// (--default-permission 0777): the mount is the container's, and the
// container's access is the identity's.
const (
	dirMode  = 0o777
	fileMode = 0o666
)

// Mount serves cfg's container at dir until the returned server is
// unmounted, mounting it itself (which needs a /dev/fuse it may open). It
// fails when the container cannot be listed (no such container, no role, no
// network): a mount is usable from its first moment or not at all.
func Mount(ctx context.Context, dir string, cfg Config) (*fuse.Server, error) {
	root, err := newRoot(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return fs.Mount(dir, root, options(true))
}

// Check reports whether cfg's container can be listed, before anyone
// mounts it.
func Check(ctx context.Context, cfg Config) error {
	_, err := newRoot(ctx, cfg)
	return err
}

// Serve serves cfg's container on device, a FUSE device someone else
// already mounted (the host, for a node), until the mount ends.
func Serve(ctx context.Context, device *os.File, cfg Config) (*fuse.Server, error) {
	root, err := newRoot(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// go-fuse's /dev/fd/N convention: the mount is made; serve its device.
	return fs.Mount(fmt.Sprintf("/dev/fd/%d", device.Fd()), root, options(false))
}

func newRoot(ctx context.Context, cfg Config) (*dirNode, error) {
	r, err := newRemote(cfg)
	if err != nil {
		return nil, err
	}
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	return &dirNode{r: r}, nil
}

func options(direct bool) *fs.Options {
	ttl := listTTL
	return &fs.Options{
		EntryTimeout: &ttl, AttrTimeout: &ttl, NegativeTimeout: &ttl,
		MountOptions: fuse.MountOptions{AllowOther: true, DirectMountStrict: direct, FsName: "blobfs", Name: "blobfs",
			MaxWrite: 1 << 20},
	}
}

// errno maps a blob service error to the file system's.
func errno(err error) syscall.Errno {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusNotFound:
			return syscall.ENOENT
		case http.StatusForbidden, http.StatusUnauthorized:
			return syscall.EACCES
		case http.StatusConflict, http.StatusPreconditionFailed:
			return syscall.EBUSY
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return syscall.EINTR
	}
	return syscall.EIO
}

// dirNode is a directory: the blobs whose names start with prefix.
type dirNode struct {
	fs.Inode
	r      *remote
	prefix string // "" or "a/b/"

	mu      sync.Mutex
	listed  []entry
	at      time.Time
	virtual map[string]bool // made by mkdir, holding no blob yet
}

var (
	_ fs.NodeLookuper  = (*dirNode)(nil)
	_ fs.NodeReaddirer = (*dirNode)(nil)
	_ fs.NodeGetattrer = (*dirNode)(nil)
	_ fs.NodeCreater   = (*dirNode)(nil)
	_ fs.NodeMkdirer   = (*dirNode)(nil)
	_ fs.NodeRmdirer   = (*dirNode)(nil)
	_ fs.NodeUnlinker  = (*dirNode)(nil)
)

// entries returns the directory's listing, at most listTTL old, with the
// virtual directories.
func (d *dirNode) entries(ctx context.Context) ([]entry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.listed == nil || time.Since(d.at) > listTTL {
		es, err := d.r.list(ctx, d.prefix)
		if err != nil {
			return nil, err
		}
		d.listed, d.at = es, time.Now()
	}
	out := append([]entry(nil), d.listed...)
	for name := range d.virtual {
		found := false
		for _, e := range out {
			found = found || e.name == name
		}
		if !found {
			out = append(out, entry{name: name, dir: true})
		}
	}
	return out, nil
}

// forget drops the cached listing after a change made through the mount.
func (d *dirNode) forget() {
	d.mu.Lock()
	d.listed = nil
	d.mu.Unlock()
}

func (d *dirNode) Getattr(_ context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = fuse.S_IFDIR | dirMode
	return 0
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	es, err := d.entries(ctx)
	if err != nil {
		return nil, errno(err)
	}
	for _, e := range es {
		if e.name == name {
			return d.child(ctx, e, &out.Attr), 0
		}
	}
	return nil, syscall.ENOENT
}

// child returns the inode for a listed name and fills its attributes.
func (d *dirNode) child(ctx context.Context, e entry, a *fuse.Attr) *fs.Inode {
	if e.dir {
		a.Mode = fuse.S_IFDIR | dirMode
		return d.NewInode(ctx, &dirNode{r: d.r, prefix: d.prefix + e.name + "/"}, fs.StableAttr{Mode: fuse.S_IFDIR})
	}
	f := &fileNode{r: d.r, name: d.prefix + e.name, size: e.size, mtime: e.mtime, parent: d}
	f.fill(a)
	return d.NewInode(ctx, f, fs.StableAttr{Mode: fuse.S_IFREG})
}

func (d *dirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	es, err := d.entries(ctx)
	if err != nil {
		return nil, errno(err)
	}
	list := make([]fuse.DirEntry, 0, len(es))
	for _, e := range es {
		mode := uint32(fuse.S_IFREG)
		if e.dir {
			mode = fuse.S_IFDIR
		}
		list = append(list, fuse.DirEntry{Name: e.name, Mode: mode})
	}
	return fs.NewListDirStream(list), 0
}

func (d *dirNode) Mkdir(ctx context.Context, name string, _ uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	es, err := d.entries(ctx)
	if err != nil {
		return nil, errno(err)
	}
	for _, e := range es {
		if e.name == name {
			return nil, syscall.EEXIST
		}
	}
	d.mu.Lock()
	if d.virtual == nil {
		d.virtual = map[string]bool{}
	}
	d.virtual[name] = true
	d.mu.Unlock()
	return d.child(ctx, entry{name: name, dir: true}, &out.Attr), 0
}

func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	es, err := d.r.list(ctx, d.prefix+name+"/")
	if err != nil {
		return errno(err)
	}
	if len(es) > 0 {
		return syscall.ENOTEMPTY
	}
	d.mu.Lock()
	delete(d.virtual, name)
	d.mu.Unlock()
	d.forget()
	return 0
}

func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	if err := d.r.remove(ctx, d.prefix+name); err != nil {
		return errno(err)
	}
	d.forget()
	return 0
}

func (d *dirNode) Create(ctx context.Context, name string, _ uint32, _ uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	tmp, err := os.CreateTemp(d.r.cfg.TempDir, "blobfs-*")
	if err != nil {
		return nil, nil, 0, syscall.EIO
	}
	_ = os.Remove(tmp.Name()) // the open file is all the handle needs
	f := &fileNode{r: d.r, name: d.prefix + name, mtime: time.Now(), parent: d}
	f.fill(&out.Attr)
	ino := d.NewInode(ctx, f, fs.StableAttr{Mode: fuse.S_IFREG})
	// A new file is a blob once closed, even if nothing is written.
	return ino, &writeHandle{n: f, f: tmp, dirty: true}, 0, 0
}
