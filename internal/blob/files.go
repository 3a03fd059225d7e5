package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// fileStore keeps blob data files: DataDir/blobs/data/<xx>/<id> for committed
// content and staged blocks, DataDir/blobs/tmp for writes in progress. Files
// are immutable once renamed into data/. Readers pin the files they stream so
// that a concurrent overwrite or delete removes them only after the read ends.
type fileStore struct {
	root string

	mu     sync.Mutex
	pins   map[string]int
	doomed map[string]bool
	dirs   sync.Map
}

func newFileStore(dataDir string) (*fileStore, error) {
	root := filepath.Join(dataDir, "blobs")
	for _, d := range []string{filepath.Join(root, "tmp"), filepath.Join(root, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("blob data dir: %w", err)
		}
	}
	return &fileStore{root: root, pins: map[string]int{}, doomed: map[string]bool{}}, nil
}

// validFileName guards against names that are not ours (the store is trusted,
// but a path must never escape the data directory).
func validFileName(name string) bool {
	if len(name) != 32 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (f *fileStore) path(name string) string {
	return filepath.Join(f.root, "data", name[:2], name)
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// onlyWriter hides a writer's ReadFrom so io.CopyBuffer uses our buffer.
type onlyWriter struct{ io.Writer }

// onlyReader hides a reader's WriteTo.
type onlyReader struct{ io.Reader }

// errShortBody is returned when the body ends before Content-Length bytes.
var errShortBody = errors.New("request body ended early")

// create writes exactly n bytes of r (also to each of the extra writers) into
// a new data file: a temporary file, fsynced, renamed into place and its
// directory fsynced. It returns the file's name. On error nothing is left behind.
func (f *fileStore) create(r io.Reader, n int64, extra ...io.Writer) (string, error) {
	tmp, err := os.CreateTemp(filepath.Join(f.root, "tmp"), "up-*")
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var w io.Writer = &writebackFile{f: tmp}
	if len(extra) > 0 {
		w = io.MultiWriter(append([]io.Writer{w}, extra...)...)
	}
	bp := copyBufs.Get().(*[]byte)
	got, err := fillCopy(w, io.LimitReader(r, n), *bp)
	copyBufs.Put(bp)
	if err != nil {
		return "", err
	}
	if got != n {
		return "", errShortBody
	}
	name, err := f.commitTemp(tmp)
	ok = err == nil
	return name, err
}

// commitTemp fsyncs and closes a complete temporary file, renames it into
// data/ under a new name and fsyncs the directory. On error the caller
// removes the temporary file.
func (f *fileStore) commitTemp(tmp *os.File) (string, error) {
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	name := hex.EncodeToString(b[:])
	dir := filepath.Join(f.root, "data", name[:2])
	if _, seen := f.dirs.Load(dir); !seen {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", err
		}
		f.dirs.Store(dir, true)
	}
	if err := os.Rename(tmp.Name(), f.path(name)); err != nil {
		return "", err
	}
	if err := syncDir(dir); err != nil {
		os.Remove(f.path(name))
		return "", err
	}
	return name, nil
}

// fileRange is a byte range of a data file.
type fileRange struct {
	name     string
	off, len int64
}

// createFrom writes the ranges of existing data files, in order, into a new
// data file the way create does, letting the kernel copy the bytes
// (copy_file_range) instead of passing them through user space.
func (f *fileStore) createFrom(ranges []fileRange) (string, error) {
	tmp, err := os.CreateTemp(filepath.Join(f.root, "tmp"), "cp-*")
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	for _, r := range ranges {
		src, err := f.open(r.name)
		if err != nil {
			return "", err
		}
		if _, err := src.Seek(r.off, io.SeekStart); err != nil {
			src.Close()
			return "", err
		}
		got, err := io.Copy(tmp, io.LimitReader(src, r.len))
		src.Close()
		if err != nil {
			return "", err
		}
		if got != r.len {
			return "", errors.New("blob data file is shorter than its extent")
		}
	}
	name, err := f.commitTemp(tmp)
	ok = err == nil
	return name, err
}

// writebackFile writes to f and starts the kernel's writeback of every
// writebackChunk written, so the final fsync waits for little.
type writebackFile struct {
	f           *os.File
	off, synced int64
}

const writebackChunk = 8 << 20

func (w *writebackFile) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.synced >= writebackChunk {
		startWriteback(w.f, w.synced, w.off-w.synced)
		w.synced = w.off
	}
	return n, err
}

// fillCopy copies src to dst, filling buf before each write: a TLS body
// yields one record (16 KiB) per read, and a write per record costs a syscall.
func fillCopy(dst io.Writer, src io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return total, nil
		case err != nil:
			return total, err
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// open opens a data file for reading.
func (f *fileStore) open(name string) (*os.File, error) {
	if !validFileName(name) {
		return nil, fmt.Errorf("invalid data file name %q", name)
	}
	return os.Open(f.path(name))
}

// pin keeps names from being deleted until unpin.
func (f *fileStore) pin(names []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range names {
		f.pins[n]++
	}
}

// unpin releases a pin and deletes the files released meanwhile.
func (f *fileStore) unpin(names []string) {
	var del []string
	f.mu.Lock()
	for _, n := range names {
		if f.pins[n]--; f.pins[n] <= 0 {
			delete(f.pins, n)
			if f.doomed[n] {
				delete(f.doomed, n)
				del = append(del, n)
			}
		}
	}
	f.mu.Unlock()
	f.remove(del)
}

// release deletes files no record references any more (now, or when the last reader unpins them).
func (f *fileStore) release(names []string) {
	var del []string
	f.mu.Lock()
	for _, n := range names {
		if f.pins[n] > 0 {
			f.doomed[n] = true
		} else {
			del = append(del, n)
		}
	}
	f.mu.Unlock()
	f.remove(del)
}

func (f *fileStore) remove(names []string) {
	for _, n := range names {
		if validFileName(n) {
			_ = os.Remove(f.path(n))
		}
	}
}

func (f *fileStore) pinned(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pins[name] > 0
}

// sweepTemp removes temporary files last written before cutoff (writes that a
// crash or a dropped connection abandoned).
func (f *fileStore) sweepTemp(cutoff time.Time) (int, error) {
	dir := filepath.Join(f.root, "tmp")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			n++
		}
	}
	return n, nil
}

// sweepData removes data files last written before cutoff that refs does not
// name and no reader pins.
func (f *fileStore) sweepData(ctx context.Context, refs map[string]bool, cutoff time.Time) (int, error) {
	n := 0
	err := filepath.WalkDir(filepath.Join(f.root, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			return nil
		}
		name := d.Name()
		if !validFileName(name) || refs[name] || f.pinned(name) || !strings.HasPrefix(name, filepath.Base(filepath.Dir(p))) {
			return nil
		}
		info, err := d.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			return nil
		}
		if os.Remove(p) == nil {
			n++
		}
		return nil
	})
	return n, err
}
