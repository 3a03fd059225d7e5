package registry

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/bodyreader"
)

// failWriter fails once it has taken more than after bytes.
type failWriter struct {
	buf   bytes.Buffer
	after int
}

var errWrite = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.after {
		return 0, errWrite
	}
	return w.buf.Write(p)
}

// TestCopyHashed: the pipelined copy writes every byte in order and hashes
// the same bytes, for sizes around its batch boundaries; it keeps the
// limit; and whatever fails, the hash is finished when it returns.
func TestCopyHashed(t *testing.T) {
	data := make([]byte, 5*hashBatch+hashSlack+3)
	for i := range data {
		data[i] = byte(i*31 + i>>9)
	}
	for _, size := range []int{0, 1, hashBatch - hashSlack, hashBatch, hashBatch + hashSlack, 4 * hashBatch, len(data)} {
		var out bytes.Buffer
		h := sha256.New()
		h.Write([]byte("prefix")) // an upload's earlier chunks
		n, err := copyHashed(&out, h, &bodyreader.Odd{B: data[:size]}, -1)
		if err != nil || n != int64(size) {
			t.Fatalf("size %d: n %d, err %v", size, n, err)
		}
		want := sha256.Sum256(append([]byte("prefix"), data[:size]...))
		if !bytes.Equal(out.Bytes(), data[:size]) || !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("size %d: content or hash differs", size)
		}
	}
	if _, err := copyHashed(io.Discard, sha256.New(), &bodyreader.Odd{B: data}, int64(len(data)-1)); !errors.Is(err, errTooLarge) {
		t.Fatalf("past the limit: %v", err)
	}
	if n, err := copyHashed(io.Discard, sha256.New(), &bodyreader.Odd{B: data}, int64(len(data))); err != nil || n != int64(len(data)) {
		t.Fatalf("at the limit: %d, %v", n, err)
	}
	errRead := errors.New("connection reset")
	h := sha256.New()
	n, err := copyHashed(io.Discard, h, &bodyreader.Odd{B: data[:3*hashBatch], Err: errRead}, -1)
	if !errors.Is(err, errRead) || n != 3*hashBatch {
		t.Fatalf("read error: %d, %v", n, err)
	}
	if want := sha256.Sum256(data[:3*hashBatch]); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("read error: the hash is not of the bytes written")
	}
	fw := &failWriter{after: 2*hashBatch + 5}
	h = sha256.New()
	if _, err := copyHashed(fw, h, &bodyreader.Odd{B: data}, -1); !errors.Is(err, errWrite) {
		t.Fatalf("write error: %v", err)
	}
	if want := sha256.Sum256(fw.buf.Bytes()); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("write error: the hash is not of the bytes written")
	}
}
