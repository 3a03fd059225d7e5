package registry

import (
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

// The hash pipeline's buffers: hashBufs of hashBatch bytes each (plus room
// for one more read), so an upload holds about 1 MiB, as copyBuffered's.
const (
	hashBatch = 256 << 10
	hashSlack = 32 << 10 // a batch is handed over once less than this is left
	hashBufs  = 4
)

// hashPipeOff hashes on the copying goroutine (the in-process benchmark's
// A/B).
var hashPipeOff bool

var hashBufPool = sync.Pool{New: func() any {
	var b [hashBufs][]byte
	for i := range b {
		b[i] = make([]byte, hashBatch+hashSlack)
	}
	return &b
}}

// copyHashed copies r to w as copyBuffered does (limit < 0: none; past
// limit, errTooLarge) and writes the same bytes to h, which it has finished
// with when it returns, whatever the error. The caller's goroutine only
// reads: over TLS, one record (16 KiB) per read, decrypted into a batch of
// about 256 KiB. Each full batch goes to a goroutine of its own, which
// writes it to w in one call and then hashes it, so that on two cores the
// TLS decryption of one batch overlaps the file write and the SHA-256 of
// the one before, and the file takes 800 writes per 200 MiB instead of
// 12,800 (a system call per record cost more than the write's copy). The
// reader waits when the writer is hashBufs batches behind: memory stays
// bounded, and every byte is written and hashed exactly once. Only bytes w
// took are hashed and counted; after a write error the rest is read no
// further than the batch at hand and dropped.
func copyHashed(w io.Writer, h hash.Hash, r io.Reader, limit int64) (int64, error) {
	if hashPipeOff {
		return copyBuffered(io.MultiWriter(w, h), r, limit)
	}
	if limit >= 0 {
		r = io.LimitReader(r, limit+1)
	}
	bufs := hashBufPool.Get().(*[hashBufs][]byte)
	defer hashBufPool.Put(bufs)
	free := make(chan []byte, hashBufs)
	full := make(chan []byte, hashBufs)
	for _, b := range bufs {
		free <- b[:cap(b)]
	}
	// The writer's results, read once done is closed.
	var written int64
	var werr error
	var failed atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range full {
			if werr == nil {
				m, err := w.Write(b)
				if err == nil && m != len(b) {
					err = io.ErrShortWrite
				}
				h.Write(b[:m])
				written += int64(m)
				if err != nil {
					werr = err
					failed.Store(true)
				}
			}
			free <- b[:cap(b)]
		}
	}()
	var rerr error
	buf, fill := <-free, 0
	for !failed.Load() {
		if len(buf)-fill < hashSlack {
			full <- buf[:fill]
			buf, fill = <-free, 0
		}
		var m int
		m, rerr = r.Read(buf[fill:])
		fill += m
		if rerr != nil {
			break
		}
	}
	if fill > 0 {
		full <- buf[:fill]
	}
	close(full)
	<-done
	switch {
	case werr != nil:
		return written, werr
	case rerr != nil && rerr != io.EOF:
		return written, rerr
	case limit >= 0 && written > limit:
		return written, errTooLarge
	}
	return written, nil
}
