package imds

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestInstance(t *testing.T) {
	t.Parallel()
	h, _ := newTestHandler(idA)
	const base = "/metadata/instance"
	const v = "?api-version=2021-02-01"

	w := do(h, "GET", base+v, md)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var doc map[string]map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	c := doc["compute"]
	for k, want := range map[string]string{"name": "node1", "vmId": "vm-1", "location": "westus",
		"vmSize": "standard_d2s_v3", "osType": "Linux", "subscriptionId": "s1", "resourceGroupName": "rg",
		"resourceId": "/subscriptions/s1/resourceGroups/rg/providers/x/y/node1", "tags": "baz:bash;foo:bar",
		"zone": "", "platformFaultDomain": "0"} {
		if c[k] != want {
			t.Errorf("compute.%s = %#v, want %q", k, c[k], want)
		}
	}
	var walk func(string, any)
	walk = func(p string, n any) {
		switch n := n.(type) {
		case map[string]any:
			for k, v := range n {
				walk(p+"/"+k, v)
			}
		case []any:
			for _, v := range n {
				walk(p+"[]", v)
			}
		case string:
		default:
			t.Errorf("%s is %T, not a string", p, n)
		}
	}
	walk("", map[string]any{"compute": doc["compute"], "network": doc["network"]})

	for _, tc := range []struct {
		path   string
		query  string
		hdr    map[string]string
		status int
		body   string // exact body when non-empty
	}{
		{"/compute/vmId", v + "&format=text", md, 200, "vm-1"},
		{"/compute/vmId", v, md, 400, ""},
		{"/compute/vmId", v + "&format=json", md, 400, ""},
		{"/network/interface/0/ipv4/ipAddress/0/privateIpAddress", v + "&format=text", md, 200, "10.0.0.4"},
		{"/network/interface/1", v, md, 404, ""},
		{"/network/interface/01", v, md, 404, ""},
		{"/compute/nope", v, md, 404, ""},
		{"/compute/vmId/x", v + "&format=text", md, 404, ""},
		{"/compute/plan", v + "&format=text", md, 200, "name\nproduct\npublisher"},
		{"/network", v + "&format=text", md, 200, "interface/"},
		{"/compute/plan", v, md, 200, `{"name":"","product":"","publisher":""}`},
		{"/compute", v + "&format=xml", md, 400, ""},
		{"", "", md, 400, ""},                        // api-version required
		{"", "?api-version=2017-03-01", md, 200, ""}, // old versions serve instance
		{"", v, nil, 400, `{"error":"Bad request: . Required metadata header not specified"}`},
		{"", v, map[string]string{"Metadata": "true", "X-Forwarded-For": "1.2.3.4"}, 400, ""},
	} {
		w := do(h, "GET", base+tc.path+tc.query, tc.hdr)
		if w.Code != tc.status {
			t.Errorf("%s%s: status %d, want %d: %s", tc.path, tc.query, w.Code, tc.status, w.Body)
			continue
		}
		if tc.body != "" && w.Body.String() != tc.body {
			t.Errorf("%s%s: body %q, want %q", tc.path, tc.query, w.Body, tc.body)
		}
	}
}

func TestVersionsAndInfo(t *testing.T) {
	t.Parallel()
	h, _ := newTestHandler(idA)
	w := do(h, "GET", "/metadata/versions", md)
	var vs struct{ APIVersions []string }
	if err := json.Unmarshal(w.Body.Bytes(), &vs); err != nil || w.Code != 200 {
		t.Fatalf("versions: %d %s", w.Code, w.Body)
	}
	if len(vs.APIVersions) != len(APIVersions) || vs.APIVersions[0] != "2017-03-01" || vs.APIVersions[len(vs.APIVersions)-1] != "2025-04-07" {
		t.Errorf("versions %v", vs.APIVersions)
	}
	if w := do(h, "GET", "/metadata/versions", nil); w.Code != 400 {
		t.Errorf("versions without Metadata: %d", w.Code)
	}
	w = do(h, "GET", "/metadata/identity/info?api-version=2018-02-01", md)
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"tenantId":"tenant-1"}` {
		t.Errorf("info: %d %s", w.Code, w.Body)
	}
	if w := do(h, "GET", "/metadata/identity/info", md); w.Code != 400 {
		t.Errorf("info without api-version: %d", w.Code)
	}
	if w := do(h, "DELETE", "/metadata/versions", md); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE versions: %d", w.Code)
	}
	if w := do(h, "GET", "/metadata/scheduledevents?api-version=2020-07-01", md); w.Code != 404 {
		t.Errorf("unknown category: %d", w.Code)
	}
}
