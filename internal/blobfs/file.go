package blobfs

import (
	"context"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// fileNode is one blob.
type fileNode struct {
	fs.Inode
	r      *remote
	name   string
	parent *dirNode

	mu    sync.Mutex
	size  int64
	mtime time.Time
}

var (
	_ fs.NodeGetattrer = (*fileNode)(nil)
	_ fs.NodeSetattrer = (*fileNode)(nil)
	_ fs.NodeOpener    = (*fileNode)(nil)
)

func (f *fileNode) fill(a *fuse.Attr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a.Mode = fuse.S_IFREG | fileMode
	a.Size = uint64(f.size)
	a.Blocks = (a.Size + 511) / 512
	t := uint64(f.mtime.Unix())
	a.Mtime, a.Ctime, a.Atime = t, t, t
}

func (f *fileNode) Getattr(_ context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if w, ok := fh.(*writeHandle); ok {
		if st, err := w.f.Stat(); err == nil {
			f.mu.Lock()
			f.size = st.Size()
			f.mu.Unlock()
		}
	}
	f.fill(&out.Attr)
	return 0
}

// Setattr truncates (the only change a blob takes); modes and times are
// accepted and not kept, as blobfuse does.
func (f *fileNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		w, isWrite := fh.(*writeHandle)
		if !isWrite {
			var errno syscall.Errno
			if w, errno = f.openWrite(ctx, size == 0); errno != 0 {
				return errno
			}
			defer w.Release(ctx)
		}
		if err := w.f.Truncate(int64(size)); err != nil {
			return syscall.EIO
		}
		w.dirty = true
		if !isWrite {
			if errno := w.Flush(ctx); errno != 0 {
				return errno
			}
		}
		f.mu.Lock()
		f.size = int64(size)
		f.mu.Unlock()
	}
	f.fill(&out.Attr)
	return 0
}

func (f *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) == 0 {
		return &readHandle{n: f}, fuse.FOPEN_KEEP_CACHE, 0
	}
	w, errno := f.openWrite(ctx, flags&syscall.O_TRUNC != 0)
	if errno != 0 {
		return nil, 0, errno
	}
	return w, 0, 0
}

// openWrite returns a handle whose temporary file holds the blob's content
// (or nothing, to truncate it).
func (f *fileNode) openWrite(ctx context.Context, trunc bool) (*writeHandle, syscall.Errno) {
	tmp, err := os.CreateTemp(f.r.cfg.TempDir, "blobfs-*")
	if err != nil {
		return nil, syscall.EIO
	}
	_ = os.Remove(tmp.Name())
	w := &writeHandle{n: f, f: tmp, dirty: trunc}
	if !trunc {
		if err := f.r.download(ctx, f.name, tmp); err != nil {
			tmp.Close()
			return nil, errno(err)
		}
	}
	return w, 0
}

// readHandle streams ranges of the blob.
type readHandle struct{ n *fileNode }

func (h *readHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.n.r.read(ctx, h.n.name, dest, off)
	if err != nil {
		return nil, errno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// writeHandle buffers the file in a temporary file; Flush (close) uploads
// it as a block blob.
type writeHandle struct {
	n     *fileNode
	mu    sync.Mutex
	f     *os.File
	dirty bool
}

var (
	_ fs.FileReader   = (*writeHandle)(nil)
	_ fs.FileWriter   = (*writeHandle)(nil)
	_ fs.FileFlusher  = (*writeHandle)(nil)
	_ fs.FileFsyncer  = (*writeHandle)(nil)
	_ fs.FileReleaser = (*writeHandle)(nil)
)

func (h *writeHandle) Read(_ context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.f.ReadAt(dest, off)
	if err != nil && n == 0 && off < 0 {
		return nil, syscall.EINVAL
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *writeHandle) Write(_ context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.f.WriteAt(data, off)
	if err != nil {
		return uint32(n), syscall.EIO
	}
	h.dirty = true
	return uint32(n), 0
}

// Flush uploads the content if it changed: close(2) returns the upload's
// error, so a program that checks it knows its data is in the container.
func (h *writeHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.dirty {
		return 0
	}
	if _, err := h.f.Seek(0, 0); err != nil {
		return syscall.EIO
	}
	if err := h.n.r.upload(ctx, h.n.name, h.f); err != nil {
		return errno(err)
	}
	h.dirty = false
	if st, err := h.f.Stat(); err == nil {
		h.n.mu.Lock()
		h.n.size, h.n.mtime = st.Size(), time.Now()
		h.n.mu.Unlock()
	}
	if h.n.parent != nil {
		h.n.parent.forget()
	}
	return 0
}

func (h *writeHandle) Fsync(ctx context.Context, _ uint32) syscall.Errno { return h.Flush(ctx) }

func (h *writeHandle) Release(context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.f.Close()
	return 0
}
