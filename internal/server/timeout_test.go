package server

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
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

// TestBodyProgress checks the blob listener's body deadline: an upload that
// keeps arriving may last longer than the read timeout, one that trickles in
// a byte at a time loses its connection.
func TestBodyProgress(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	h := bodyProgress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return
		}
		fmt.Fprint(w, n)
	}), timeout)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout = timeout
	srv.Config.ReadHeaderTimeout = timeout
	srv.Start()
	defer srv.Close()
	send := func(chunk int, pause time.Duration, total int) (string, error) {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := fmt.Fprintf(conn, "PUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", total); err != nil {
			return "", err
		}
		buf := make([]byte, chunk)
		for sent := 0; sent < total; sent += chunk {
			if _, err := conn.Write(buf); err != nil {
				return "", err
			}
			time.Sleep(pause)
		}
		if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(conn)
		return string(b), err
	}
	// 32 KiB every 50 ms for about 1.5 s: five times the read timeout.
	if out, err := send(32<<10, 50*time.Millisecond, 30*(32<<10)); err != nil || !strings.Contains(out, "200 OK") || !strings.Contains(out, strconv.Itoa(30*(32<<10))) {
		t.Fatalf("a steady upload longer than the read timeout: %q %v", out, err)
	}
	// A byte every 50 ms, for at most 30 s: the server must give up long before.
	out, err := send(1, 50*time.Millisecond, 600)
	var ne net.Error
	if err == nil && strings.Contains(out, "200 OK") || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a trickling upload held its connection: %q %v", out, err)
	}
}
