package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// prefetchJobs bounds the layers of one image fetched at the same time, as
// container runtimes do (containerd's default is 3).
const prefetchJobs = 3

// prefetched is an image whose layers are being fetched, prefetchJobs at a
// time, into files of a private directory, so that the unpack (which reads
// the layers one after the other, the top one first) overlaps the fetch of
// the others and one layer's SHA-256 runs beside another's. Each file is
// the registry's bytes as ggcr's verifying reader passed them: a layer
// whose size or digest differs from the manifest's fails at its EOF, and
// its error is the layer's.
type prefetched struct {
	v1.Image
	layers []v1.Layer

	stop chan struct{} // closed by close: fetches not started are skipped
	wg   sync.WaitGroup
}

// prefetch starts fetching img's layers into dir (which must exist).
func prefetch(img v1.Image, dir string) (*prefetched, error) {
	remote, err := img.Layers()
	if err != nil {
		return nil, err
	}
	p := &prefetched{Image: img, layers: make([]v1.Layer, len(remote)), stop: make(chan struct{})}
	fls := make([]*fileLayer, len(remote))
	for i, rl := range remote {
		fls[i] = &fileLayer{remote: rl, path: filepath.Join(dir, fmt.Sprintf("layer-%d", i)), done: make(chan struct{})}
		if p.layers[i], err = partial.CompressedToLayer(fls[i]); err != nil {
			return nil, err
		}
	}
	sem := make(chan struct{}, prefetchJobs)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		// Top layer first: the unpack reads them in that order.
		for i := len(fls) - 1; i >= 0; i-- {
			l := fls[i]
			select {
			case sem <- struct{}{}:
			case <-p.stop:
				for ; i >= 0; i-- {
					fls[i].finish(errPrefetchStopped)
				}
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer func() { <-sem }()
				l.finish(l.fetch())
			}()
		}
	}()
	return p, nil
}

var errPrefetchStopped = errors.New("the image's unpack stopped")

// Layers returns the layers read from their files.
func (p *prefetched) Layers() ([]v1.Layer, error) { return p.layers, nil }

// close skips the fetches not started and waits for the others, so that
// their directory may be removed.
func (p *prefetched) close() {
	close(p.stop)
	p.wg.Wait()
}

// fileLayer is one layer fetched into a file.
type fileLayer struct {
	remote v1.Layer
	path   string
	done   chan struct{}
	err    error
}

// fetch copies the layer from the registry into its file; ggcr checks its
// size and digest at EOF.
func (l *fileLayer) fetch() error {
	rc, err := l.remote.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = copyFilled(f, rc, make([]byte, 1<<20))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyFilled copies r to w through buf, writing it only when it is full
// (and at the end). Over TLS a read returns one record, 16 KiB at most: a
// write per read was 12,800 file writes per 200 MiB layer (io.CopyBuffer
// into an *os.File also ignores its buffer for the file's ReadFrom, which
// copies 32 KiB at a time). r's error, its digest check at EOF included, is
// returned after the bytes read before it are written.
func copyFilled(w io.Writer, r io.Reader, buf []byte) (int64, error) {
	var n int64
	fill := 0
	for {
		m, err := r.Read(buf[fill:])
		fill += m
		if fill == len(buf) || (err != nil && fill > 0) {
			wm, werr := w.Write(buf[:fill])
			n += int64(wm)
			if werr == nil && wm != fill {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return n, werr
			}
			fill = 0
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (l *fileLayer) finish(err error) {
	l.err = err
	close(l.done)
}

func (l *fileLayer) Digest() (v1.Hash, error)            { return l.remote.Digest() }
func (l *fileLayer) Size() (int64, error)                { return l.remote.Size() }
func (l *fileLayer) MediaType() (types.MediaType, error) { return l.remote.MediaType() }

// Compressed waits for the layer's fetch and opens its file.
func (l *fileLayer) Compressed() (io.ReadCloser, error) {
	<-l.done
	if l.err != nil {
		return nil, l.err
	}
	return os.Open(l.path)
}
