package azurenames

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// answerTTL is the TTL of the answers: the addresses never change while a
// node lives.
const answerTTL = 300

// Answer builds the response to one DNS query message: for a question about
// a served name, an A record with addr (AAAA and other types get an empty
// answer, so resolvers fall back to IPv4); NXDOMAIN for any other name;
// FORMERR for a message that is not one query. It returns nil for input
// that is not worth answering (not even a header).
func Answer(query []byte, addr [4]byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	if h.Response {
		return nil
	}
	resp := dnsmessage.Header{ID: h.ID, Response: true, OpCode: h.OpCode, RecursionDesired: h.RecursionDesired,
		RecursionAvailable: true, Authoritative: true}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 || h.OpCode != 0 {
		resp.RCode = dnsmessage.RCodeFormatError
		if h.OpCode != 0 {
			resp.RCode = dnsmessage.RCodeNotImplemented
		}
		return build(resp, nil, nil)
	}
	q := qs[0]
	if q.Class != dnsmessage.ClassINET && q.Class != dnsmessage.ClassANY {
		resp.RCode = dnsmessage.RCodeRefused
		return build(resp, &q, nil)
	}
	if !Served(q.Name.String()) {
		resp.RCode = dnsmessage.RCodeNameError
		return build(resp, &q, nil)
	}
	var a *dnsmessage.AResource
	if q.Type == dnsmessage.TypeA || q.Type == dnsmessage.TypeALL {
		a = &dnsmessage.AResource{A: addr}
	}
	return build(resp, &q, a)
}

func build(h dnsmessage.Header, q *dnsmessage.Question, a *dnsmessage.AResource) []byte {
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), h)
	b.EnableCompression()
	if q != nil {
		if b.StartQuestions() != nil || b.Question(*q) != nil {
			return nil
		}
	}
	if a != nil {
		if b.StartAnswers() != nil {
			return nil
		}
		rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: answerTTL}
		if b.AResource(rh, *a) != nil {
			return nil
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// ServeDNS answers queries on a UDP socket until it is closed.
func ServeDNS(pc net.PacketConn, addr [4]byte) error {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		if out := Answer(buf[:n], addr); out != nil {
			_, _ = pc.WriteTo(out, from)
		}
	}
}

// ServeDNSTCP answers queries on a TCP listener (RFC 7766 framing: a
// two-byte length before each message) until it is closed. Each connection
// may carry several queries and is dropped after a short idle time.
func ServeDNSTCP(ln net.Listener, addr [4]byte) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		go serveTCPConn(c, addr)
	}
}

func serveTCPConn(c net.Conn, addr [4]byte) {
	defer c.Close()
	var lenBuf [2]byte
	msg := make([]byte, 65535)
	for {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(lenBuf[:]))
		if _, err := io.ReadFull(c, msg[:n]); err != nil {
			return
		}
		out := Answer(msg[:n], addr)
		if out == nil {
			return
		}
		frame := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(out)), uint16(len(out)))
		if _, err := c.Write(append(frame, out...)); err != nil {
			return
		}
	}
}
