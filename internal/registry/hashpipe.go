package registry

import (
	"hash"
	"io"
	"sync"
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
// with when it returns, whatever the error. Each read is written to w as it
// comes, on the caller's goroutine; h is fed on a goroutine of its own, a
// batch of about 256 KiB at a time, so that on two cores the TLS decryption
// and the file write of one batch overlap the SHA-256 of the one before.
// The reader waits when the hasher is hashBufs batches behind: memory stays
// bounded, and every byte is hashed exactly once.
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
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range full {
			h.Write(b)
			free <- b[:cap(b)]
		}
	}()
	var n int64
	var err error
	buf, fill := <-free, 0
	for {
		if len(buf)-fill < hashSlack {
			full <- buf[:fill]
			buf, fill = <-free, 0
		}
		m, rerr := r.Read(buf[fill:])
		if m > 0 {
			wm, werr := w.Write(buf[fill : fill+m])
			n += int64(wm)
			fill += wm
			if werr == nil && wm != m {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				err = werr
				break
			}
		}
		if rerr != nil {
			if rerr != io.EOF {
				err = rerr
			}
			break
		}
	}
	if fill > 0 {
		full <- buf[:fill]
	}
	close(full)
	<-done
	if err == nil && limit >= 0 && n > limit {
		return n, errTooLarge
	}
	return n, err
}
