package bodyreader

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// Both readers give back exactly their bytes, in reads of the sizes they
// promise, then their end.
func TestReadersReturnTheirBytes(t *testing.T) {
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(i * 31)
	}
	cause := errors.New("cut")
	odd := &Odd{B: data, Err: cause}
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	sizes := map[int]bool{}
	for {
		n, err := odd.Read(buf)
		got.Write(buf[:n])
		if n > 0 {
			sizes[n] = true
		}
		if err != nil {
			if err != cause {
				t.Fatalf("Odd ended with %v, want %v", err, cause)
			}
			break
		}
	}
	if !bytes.Equal(got.Bytes(), data) || len(sizes) < 3 {
		t.Fatalf("Odd gave %d bytes in %d distinct read sizes", got.Len(), len(sizes))
	}
	rec := &Records{B: data}
	n, err := rec.Read(buf)
	if n != 16<<10 || err != nil {
		t.Fatalf("Records read %d, %v; want 16 KiB", n, err)
	}
	rest, err := io.ReadAll(rec)
	if err != nil || !bytes.Equal(append(buf[:n:n], rest...), data) {
		t.Fatalf("Records gave back other bytes: %v", err)
	}
}
