package inproc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// closeCounter is a request body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func TestServesItsHostInProcessAsAServerWould(t *testing.T) {
	var seen *http.Request
	var body string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	next := roundTripFunc(func(*http.Request) (*http.Response, error) {
		t.Fatal("a request for the handler's host went to the next transport")
		return nil, nil
	})
	c := &http.Client{Transport: &Transport{Host: "127.0.0.1:8443", Handler: h, Next: next}}
	reqBody := &closeCounter{Reader: strings.NewReader(`{"nodeId":"n1"}`)}
	req, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1:8443/nodeapi/v1/lease?x=1", reqBody)
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || string(got) != `{"ok":true}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("response %d %q %v", resp.StatusCode, got, resp.Header)
	}
	if seen.URL.Path != "/nodeapi/v1/lease" || seen.URL.RawQuery != "x=1" || seen.URL.Host != "" || seen.RequestURI != "/nodeapi/v1/lease?x=1" ||
		seen.Host != "127.0.0.1:8443" || seen.RemoteAddr == "" || seen.Header.Get("Authorization") != "Bearer secret" || body != `{"nodeId":"n1"}` {
		t.Fatalf("the handler saw %s %q host %q remote %q headers %v body %q", seen.Method, seen.RequestURI, seen.Host, seen.RemoteAddr, seen.Header, body)
	}
	if reqBody.closed == 0 {
		t.Fatal("the request body was not closed")
	}
}

func TestSendsOtherHostsOn(t *testing.T) {
	var hosts []string
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		hosts = append(hosts, r.URL.Host)
		return &http.Response{StatusCode: http.StatusTeapot, Body: http.NoBody, Request: r}, nil
	})
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("another host's request reached the handler") })
	c := &http.Client{Transport: &Transport{Host: "127.0.0.1:8443", Handler: h, Next: next}}
	for _, u := range []string{"https://127.0.0.1:8444/x", "https://localhost:8443/x", "https://10.0.0.1:8443/x"} {
		resp, err := c.Get(u)
		if err != nil || resp.StatusCode != http.StatusTeapot {
			t.Fatalf("%s: %v %v", u, resp, err)
		}
	}
	if len(hosts) != 3 {
		t.Fatalf("next transport saw %v", hosts)
	}
}

func TestCancellingTheCallEndsALongPoll(t *testing.T) {
	ended := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(ended)
		<-r.Context().Done() // a long poll: only the caller's cancel ends it
	})
	c := &http.Client{Transport: &Transport{Host: "cp:1", Handler: h}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://cp:1/lease", nil)
	if _, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context was not cancelled with the call's")
	}
}

func TestAPanickingHandlerFailsTheCallNotTheProcess(t *testing.T) {
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
	c := &http.Client{Transport: &Transport{Host: "cp:1", Handler: h}}
	if _, err := c.Get("https://cp:1/x"); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("err %v", err)
	}
}

func TestBusyWorkersNeverHoldUpARequest(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/poll" {
			<-release // a long poll holds its worker
		}
		_, _ = io.WriteString(w, r.URL.Path)
	})
	c := &http.Client{Transport: &Transport{Host: "cp:1", Handler: h}}
	polls := make(chan error, 3)
	for range 3 {
		go func() {
			resp, err := c.Get("https://cp:1/poll")
			if err == nil {
				resp.Body.Close()
			}
			polls <- err
		}()
	}
	// Served while the polls hold their workers, then by the workers they
	// free, again and again.
	for i := range 50 {
		resp, err := c.Get("https://cp:1/quick")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "/quick" {
			t.Fatalf("request %d: %q", i, b)
		}
	}
	close(release)
	for range 3 {
		if err := <-polls; err != nil {
			t.Fatal(err)
		}
	}
}
