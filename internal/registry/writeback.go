package registry

import (
	"os"
	"sync"
)

// writebackChunk is how much of an upload is written before the kernel is
// asked to start writing it to disk.
const writebackChunk = 8 << 20

// writebackFile writes to f at increasing offsets from off, and every
// writebackChunk starts the kernel's write-back of what was written
// (sync_file_range SYNC_FILE_RANGE_WRITE) on a goroutine of its own, so
// that the disk works while the rest of the upload arrives and the fsync at
// the end of the upload waits only for the tail. The request's goroutine
// never blocks on the disk's queue: a range the goroutine has not reached
// yet is merged with the next, and none is started once wait was called.
// Durability is unchanged: the caller still fsyncs the file after wait.
type writebackFile struct {
	f           *os.File
	off, queued int64

	mu      sync.Mutex
	pending [2]int64 // a range waiting for the goroutine: start, end
	running bool
	done    sync.WaitGroup
	stopped bool
}

// writebackOff turns early write-back off (the in-process benchmark's A/B).
var writebackOff bool

func newWritebackFile(f *os.File, off int64) *writebackFile {
	return &writebackFile{f: f, off: off, queued: off}
}

func (w *writebackFile) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.queued >= writebackChunk {
		w.start(w.queued, w.off)
		w.queued = w.off
	}
	return n, err
}

// start hands [from, to) to the write-back goroutine, starting it if it is
// not running.
func (w *writebackFile) start(from, to int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if w.pending[1] > w.pending[0] {
		w.pending[1] = to // merge with the range still waiting
	} else {
		w.pending = [2]int64{from, to}
	}
	if w.running {
		return
	}
	w.running = true
	w.done.Add(1)
	go w.loop()
}

func (w *writebackFile) loop() {
	defer w.done.Done()
	for {
		w.mu.Lock()
		r := w.pending
		w.pending = [2]int64{}
		if w.stopped || r[1] <= r[0] {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		startWriteback(w.f, r[0], r[1]-r[0])
	}
}

// wait stops further write-back and waits for the goroutine, so that the
// file may be synced and closed.
func (w *writebackFile) wait() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.done.Wait()
}
