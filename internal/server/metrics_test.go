package server

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestMetricsNotForwardedIntoNodes checks that /metrics is served on a
// listener of its own, which is not among the ports forwarded into nodes,
// and no longer on the login listener (which is).
func TestMetricsNotForwardedIntoNodes(t *testing.T) {
	t.Parallel()
	s := StartTest(t, Options{})
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: s.CA().ClientTLSConfig()}}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(s.URL("metrics") + "/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("GET metrics /metrics: %d %.200s", code, body)
	}
	if code, body := get(s.URL("login") + "/metrics"); code == 200 && strings.Contains(body, "go_goroutines") {
		t.Fatal("the login listener, forwarded into nodes, serves /metrics")
	}
	u, err := url.Parse(s.URL("metrics"))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	if slices.Contains(s.forwardPorts(), port) {
		t.Fatalf("the metrics port %d is forwarded into nodes: %v", port, s.forwardPorts())
	}
}
