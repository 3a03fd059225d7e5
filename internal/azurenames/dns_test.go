package azurenames

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

var loopback = [4]byte{127, 0, 0, 1}

// TestResolverThroughDNS: Go's own resolver, pointed at the responder over
// UDP and TCP, gets 127.0.0.1 for Azure's names and "no such host" for the
// rest.
func TestResolverThroughDNS(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(); ln.Close() })
	go func() { _ = ServeDNS(pc, loopback) }()
	go func() { _ = ServeDNSTCP(ln, loopback) }()
	for _, network := range []string{"udp", "tcp"} {
		target := pc.LocalAddr().String()
		if network == "tcp" {
			target = ln.Addr().String()
		}
		r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, target)
		}}
		for _, host := range []string{"store1.blob.core.windows.net", "login.microsoftonline.com", "acct.eastus.batch.azure.com", "reg.azurecr.io"} {
			addrs, err := r.LookupHost(context.Background(), host)
			if err != nil {
				t.Fatalf("%s: LookupHost(%s): %v", network, host, err)
			}
			if !slices.Equal(addrs, []string{"127.0.0.1"}) {
				t.Errorf("%s: LookupHost(%s) = %v, want [127.0.0.1]", network, host, addrs)
			}
		}
		_, err := r.LookupHost(context.Background(), "example.com")
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Errorf("%s: LookupHost(example.com) = %v, want not found", network, err)
		}
	}
}

func TestAnswerRefusesOddQueries(t *testing.T) {
	t.Parallel()
	if Answer(nil, loopback) != nil || Answer([]byte{1, 2, 3}, loopback) != nil {
		t.Error("a message shorter than a header was answered")
	}
	// Two questions: FORMERR.
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7})
	_ = b.StartQuestions()
	for _, n := range []string{"a.blob.core.windows.net.", "b.blob.core.windows.net."} {
		_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(n), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	}
	msg, _ := b.Finish()
	var p dnsmessage.Parser
	h, err := p.Start(Answer(msg, loopback))
	if err != nil || h.ID != 7 || h.RCode != dnsmessage.RCodeFormatError {
		t.Errorf("two questions: header %+v, err %v; want FORMERR", h, err)
	}
	// A response is never answered (no reflection loops).
	b = dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 8, Response: true})
	msg, _ = b.Finish()
	if Answer(msg, loopback) != nil {
		t.Error("a response message was answered")
	}
}

func FuzzAnswer(f *testing.F) {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 1, RecursionDesired: true})
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("s.blob.core.windows.net."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	msg, _ := b.Finish()
	f.Add(msg)
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, q []byte) {
		out := Answer(q, loopback)
		if out == nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(out)
		if err != nil {
			t.Fatalf("answer does not parse: %v", err)
		}
		if !h.Response {
			t.Fatal("answer is not a response")
		}
		if len(out) > 512 {
			t.Fatalf("answer of %d bytes does not fit a UDP message", len(out))
		}
	})
}
