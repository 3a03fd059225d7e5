package agent

import (
	"net/http"
	"testing"
	"time"
)

// TestAgentRateLimitPerNode checks that the node's IMDS limit applies and is
// shared by the IMDS and App Service endpoints of the node.
func TestAgentRateLimitPerNode(t *testing.T) {
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA))
	a, _ := startAgent(t, f, IsolationProcess, func(c *Config) { c.IMDSRateLimit = "1/s,5" })
	get := func(url string, hdr map[string]string) *http.Response {
		req, _ := http.NewRequest("GET", url, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	imdsURL := a.IMDSURL() + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/"
	env := a.TaskEnv()
	// A process-mode IMDS answers only with the node's secret.
	imdsHdr := map[string]string{"Metadata": "true", "X-IDENTITY-HEADER": envValue(env, "IDENTITY_HEADER")}
	if r := get(imdsURL, imdsHdr); r.StatusCode != 200 {
		t.Fatalf("first request: %d", r.StatusCode)
	}
	app := get(envValue(env, "IDENTITY_ENDPOINT")+"?api-version=2019-08-01&resource=https://vault.azure.net",
		map[string]string{"X-IDENTITY-HEADER": envValue(env, "IDENTITY_HEADER")})
	if app.StatusCode != http.StatusTooManyRequests || app.Header.Get("Retry-After") == "" {
		t.Errorf("App Service request past the node's limit: %d Retry-After %q", app.StatusCode, app.Header.Get("Retry-After"))
	}
	if r := get(imdsURL, imdsHdr); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("IMDS request past the limit: %d", r.StatusCode)
	}
}

// TestAgentDefaultRateLimit checks that an agent without a setting gets
// Azure's 20 requests a second.
func TestAgentDefaultRateLimit(t *testing.T) {
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA))
	frozen := time.Now()
	a, _ := startAgent(t, f, IsolationProcess, func(c *Config) {
		c.IMDSRateLimit = ""
		c.Now = func() time.Time { return frozen } // no refill during the test
	})
	url := a.IMDSURL() + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/"
	throttled := 0
	for range 40 {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Metadata", "true")
		req.Header.Set("X-IDENTITY-HEADER", envValue(a.TaskEnv(), "IDENTITY_HEADER"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			throttled++
		}
	}
	if throttled != 20 {
		t.Errorf("%d of 40 requests at one instant throttled; want 20", throttled)
	}
}
