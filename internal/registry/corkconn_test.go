package registry

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

// recordingConn is a net.Conn that keeps each write it is given, failing
// from the failAt-th write on (0: never).
type recordingConn struct {
	net.Conn
	writes [][]byte
	failAt int
}

var errConnReset = errors.New("connection reset")

func (c *recordingConn) Write(p []byte) (int, error) {
	if c.failAt > 0 && len(c.writes)+1 >= c.failAt {
		return 0, errConnReset
	}
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

// TestCorkConn: uncorked writes go straight through; corked ones leave in
// order, in writes of at most corkSize (a larger write alone), all of them
// once uncorked; a failed write of gathered records fails every later one.
func TestCorkConn(t *testing.T) {
	rec := &recordingConn{}
	c := newCorkConn(rec).(*corkConn)
	if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\n")); err != nil || len(rec.writes) != 1 {
		t.Fatalf("uncorked write: %v, %d writes", err, len(rec.writes))
	}
	var want bytes.Buffer
	want.WriteString("HTTP/1.1 200 OK\r\n")
	c.cork()
	c.cork() // twice is fine
	for i := range 100 {
		p := bytes.Repeat([]byte{byte(i)}, 16<<10+29)
		if i == 50 {
			p = bytes.Repeat([]byte{'L'}, corkSize+1)
		}
		if n, err := c.Write(p); err != nil || n != len(p) {
			t.Fatalf("corked write %d: %d, %v", i, n, err)
		}
		want.Write(p)
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("tail")); err != nil {
		t.Fatal(err)
	}
	want.WriteString("tail")
	if got := bytes.Join(rec.writes, nil); !bytes.Equal(got, want.Bytes()) {
		t.Fatal("the bytes differ from those written, or their order")
	}
	if len(rec.writes) > 12 {
		t.Errorf("%d writes for about 1.9 MiB corked", len(rec.writes))
	}
	for i, w := range rec.writes {
		if len(w) > corkSize && len(w) != corkSize+1 {
			t.Errorf("write %d: %d bytes", i, len(w))
		}
	}

	rec = &recordingConn{failAt: 1}
	c = newCorkConn(rec).(*corkConn)
	c.cork()
	if _, err := c.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := c.uncork(); !errors.Is(err, errConnReset) {
		t.Fatalf("uncork: %v", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, errConnReset) {
		t.Fatalf("write after a failed flush: %v", err)
	}
}

// sourceConn is a net.Conn whose reads come from src, counted, and then
// end with err (io.EOF when nil).
type sourceConn struct {
	net.Conn
	src   []byte
	reads int
	err   error
}

func (c *sourceConn) Read(p []byte) (int, error) {
	c.reads++
	if len(c.src) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		return 0, io.EOF
	}
	n := copy(p, c.src)
	c.src = c.src[n:]
	return n, nil
}

// TestCorkConnReadAhead: reading ahead, small reads get every byte in
// order from far fewer reads of the connection; what was read ahead is
// still handed out, before anything else, once reading ahead stops; the
// connection's error comes after the bytes before it.
func TestCorkConnReadAhead(t *testing.T) {
	data := make([]byte, 3*corkSize+777)
	for i := range data {
		data[i] = byte(i*31 + i>>9)
	}
	src := &sourceConn{src: bytes.Clone(data), err: errConnReset}
	c := newCorkConn(src).(*corkConn)
	var got []byte
	p := make([]byte, 16<<10+5)
	n, _ := c.Read(p[:100]) // not reading ahead: straight through
	got = append(got, p[:n]...)
	if src.reads != 1 || n != 100 {
		t.Fatalf("before reading ahead: %d bytes, %d reads", n, src.reads)
	}
	c.readAhead()
	for len(got) < 2*corkSize {
		n, err := c.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p[:n]...)
	}
	c.stopReadAhead()
	if src.reads > 4 {
		t.Errorf("%d reads of the connection for %d bytes", src.reads, len(got))
	}
	var err error
	for err == nil {
		n, err = c.Read(p)
		got = append(got, p[:n]...)
	}
	if !errors.Is(err, errConnReset) {
		t.Fatalf("the connection's error: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("%d bytes differ from the %d sent, or their order", len(got), len(data))
	}
}
