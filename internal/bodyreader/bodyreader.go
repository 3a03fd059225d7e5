// Package bodyreader has readers that hand out their bytes as a request or
// response body over TLS does, for the tests and benchmarks of copy loops
// (the registry's upload, a node's layer fetch).
package bodyreader

import "io"

// Odd returns its bytes in reads of varying sizes (1 byte to 40 KiB), as a
// TLS body does under load, then Err (io.EOF when nil).
type Odd struct {
	B   []byte
	Err error
	i   int
}

func (r *Odd) Read(p []byte) (int, error) {
	if len(r.B) == 0 {
		if r.Err != nil {
			return 0, r.Err
		}
		return 0, io.EOF
	}
	r.i++
	n := min(len(p), len(r.B), 1+(r.i*7919)%(40<<10))
	copy(p, r.B[:n])
	r.B = r.B[n:]
	return n, nil
}

// Records hands out its bytes 16 KiB at a time, a TLS record per read.
type Records struct{ B []byte }

func (r *Records) Read(p []byte) (int, error) {
	if len(r.B) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 16<<10)], r.B)
	r.B = r.B[n:]
	return n, nil
}
