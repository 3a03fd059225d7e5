package server

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

// TestSlowClientLosesItsConnection checks that a client that sends the start
// of a request body and then stops does not hold its connection: the server
// closes it (after answering, or not) well before the client gives up.
func TestSlowClientLosesItsConnection(t *testing.T) {
	t.Parallel()
	s := StartTest(t, Options{ReadTimeout: 200 * time.Millisecond})
	for _, c := range []struct{ listener, method, path string }{
		{"login", "POST", "/" + s.tenantID + "/oauth2/v2.0/token"},
		{"arm", "PUT", "/subscriptions/" + s.subID + "/resourcegroups/rg?api-version=2021-04-01"},
		{"blob", "PUT", "/account/container/blob"},
		{"nodeapi", "POST", "/nodes/register"},
	} {
		t.Run(c.listener, func(t *testing.T) {
			u, err := url.Parse(s.URL(c.listener))
			if err != nil {
				t.Fatal(err)
			}
			conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: s.CA().ClientTLSConfig().RootCAs, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			req := c.method + " " + c.path + " HTTP/1.1\r\nHost: " + u.Host +
				"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type="
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			// The client never sends the rest. Its own patience is far longer
			// than the server's read timeout: reaching it means the server kept
			// the connection.
			if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
				t.Fatal(err)
			}
			_, err = io.Copy(io.Discard, bufio.NewReader(conn))
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the %s listener kept a connection whose body stalled", c.listener)
			}
		})
	}
}
