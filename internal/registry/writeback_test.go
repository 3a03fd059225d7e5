package registry

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWritebackFile: what goes through the write-back writer lands in the
// file at its offsets, whatever the write-back goroutine did meanwhile, and
// wait leaves no goroutine writing back after it returns.
func TestWritebackFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "data")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := bytes.Repeat([]byte{'h'}, 1000)
	if _, err := f.Write(head); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 3*writebackChunk+12345)
	for i := range want {
		want[i] = byte(i * 7)
	}
	w := newWritebackFile(f, int64(len(head)))
	if _, err := io.CopyBuffer(w, bytes.NewReader(want), make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	w.wait()
	w.wait() // twice is fine
	w.start(0, 1)
	if w.running {
		t.Fatal("write-back started after wait")
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(head)], head) || !bytes.Equal(got[len(head):], want) {
		t.Fatalf("file content differs (%d bytes, want %d)", len(got), len(head)+len(want))
	}
}
