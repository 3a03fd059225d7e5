package sandbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

func TestMessageRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	in := &message{Op: opDone, ID: 7, Result: &Result{Report: &nodeproto.ReportRequest{LeaseID: "l"}}}
	if err := writeMessage(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := readMessage(&buf)
	if err != nil || out.Op != opDone || out.ID != 7 || out.Result == nil || out.Result.Report.LeaseID != "l" {
		t.Fatalf("%+v %v", out, err)
	}
}

// TestOversizedMessageIsRefused: a length over the limit is refused before
// anything is allocated for it (the init is untrusted).
func TestOversizedMessageIsRefused(t *testing.T) {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], maxMessage+1)
	if _, err := readMessage(bytes.NewReader(hdr[:])); !errors.Is(err, errTooLarge) {
		t.Fatalf("err %v", err)
	}
}

// FuzzReadMessage: whatever an init sends, the host side's reader returns a
// message or an error, never panics.
func FuzzReadMessage(f *testing.F) {
	var buf bytes.Buffer
	_ = writeMessage(&buf, &message{Op: opReady})
	f.Add(buf.Bytes())
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			if _, err := readMessage(r); err != nil {
				return
			}
		}
	})
}
