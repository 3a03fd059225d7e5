package registry

import (
	"errors"
	"io"
	"net/http"
	"sync"
)

// errTooLarge is returned by copyBuffered when the body exceeds its limit.
var errTooLarge = errors.New("content too large")

// copyBufSize is the size of one copy buffer: a 200 MiB layer moves in 200
// file writes or reads, not 6,400 (io.Copy's and net/http's 32 KiB).
const copyBufSize = 1 << 20

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// copyBuffered copies with a 1 MiB buffer, failing past limit bytes (limit
// < 0: none). The buffer is used even when w has a ReadFrom (an *os.File's
// falls back to 32 KiB writes for a network body). Each read is written as
// it came (over TLS, one 16 KiB record): filling 128 KiB or 1 MiB before
// writing and hashing halved the write calls but raised cobalt up's CPU per
// 200 MiB push from 520-670 ms to 550-1,020 ms (cobalt bench, A/B), the
// bytes no longer hot in cache when written and hashed.
func copyBuffered(w io.Writer, r io.Reader, limit int64) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	if limit >= 0 {
		r = io.LimitReader(r, limit+1)
	}
	n, err := io.CopyBuffer(writerOnly{w}, r, *bp)
	if err == nil && limit >= 0 && n > limit {
		return n, errTooLarge
	}
	return n, err
}

// writerOnly hides a writer's ReadFrom, so that io.CopyBuffer uses the
// buffer it is given.
type writerOnly struct{ io.Writer }

// largeWrites is a ResponseWriter whose ReadFrom (what http.ServeContent's
// copy calls) reads the file in 1 MiB pieces: over TLS there is no
// sendfile, and net/http's own ReadFrom would read it 32 KiB at a time.
type largeWrites struct{ http.ResponseWriter }

func (w largeWrites) ReadFrom(r io.Reader) (int64, error) {
	return copyBuffered(w.ResponseWriter, r, -1)
}
