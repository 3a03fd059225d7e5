package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseResourceFile(t *testing.T) {
	t.Parallel()
	id := func(s string) string {
		if strings.HasPrefix(s, "/") {
			return s
		}
		return "/ids/" + s
	}
	for _, tc := range []struct{ in, want, err string }{
		{"containerUrl=https://h/sa/c,identity=id1", `{"identityReference":{"resourceId":"/ids/id1"},"storageContainerUrl":"https://h/sa/c"}`, ""},
		{"httpUrl=https://h/sa/c/b?x=1,y=2,filePath=in/b.txt,fileMode=0755", `{"fileMode":"0755","filePath":"in/b.txt","httpUrl":"https://h/sa/c/b?x=1,y=2"}`, ""},
		{"storageContainerUrl=u,blobPrefix=p/,identity=/sub/x/id", `{"blobPrefix":"p/","identityReference":{"resourceId":"/sub/x/id"},"storageContainerUrl":"u"}`, ""},
		{"autoStorageContainerName=c", `{"autoStorageContainerName":"c"}`, ""},
		{"filePath=x", "", "exactly one"},
		{"containerUrl=a,httpUrl=b", "", "exactly one"},
		{"containerUrl=a,containerUrl=b", "", "duplicate"},
		{"bogus=1,containerUrl=a", "", "unknown key"},
		{"containerUrl=a,identity=x,y", "", "unknown key"},
		{"", "", "unknown key"},
	} {
		got, err := parseResourceFile(tc.in, id)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: got %v, want error %q", tc.in, err, tc.err)
			}
			continue
		}
		b, _ := json.Marshal(got)
		if err != nil || string(b) != tc.want {
			t.Errorf("%q: got %s %v, want %s", tc.in, b, err, tc.want)
		}
	}
}

func FuzzParseResourceFile(f *testing.F) {
	for _, s := range []string{"containerUrl=https://h/c,identity=i", "httpUrl=u,filePath=f", "a=b,,c", "=,="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rf, err := parseResourceFile(s, func(s string) string { return s })
		if err == nil && len(rf) == 0 {
			t.Fatalf("%q: empty resource file accepted", s)
		}
	})
}

func TestPoolBody(t *testing.T) {
	t.Parallel()
	c := &client{profile: &profile{SubscriptionID: "s"}}
	spec := poolSpec{vmSize: "STANDARD_D2S_V3", image: "canonical:ubuntu:22_04-lts:latest", nodeAgent: "batch.node.ubuntu 22.04",
		target: 1, identities: []string{"id1"}, startCmd: "/bin/true", waitForSuccess: true,
		resourceFiles: []string{"containerUrl=https://h/sa/c,identity=id1"}}
	changed := func(n string) bool { return n == "target-dedicated-nodes" || n == "identity" }
	body, err := spec.body(c, "rg", changed, true)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(body)
	for _, want := range []string{
		`"identity":{"type":"UserAssigned","userAssignedIdentities":{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1":{}}}`,
		`"imageReference":{"offer":"ubuntu","publisher":"canonical","sku":"22_04-lts","version":"latest"}`,
		`"nodeAgentSkuId":"batch.node.ubuntu 22.04"`,
		`"scaleSettings":{"fixedScale":{"targetDedicatedNodes":1}}`,
		`"identityReference":{"resourceId":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"}`,
		`"waitForSuccess":true`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("body lacks %s:\n%s", want, b)
		}
	}
	// Update sends only what changed; "none" removes identities.
	upd := poolSpec{identities: []string{"none"}}
	body, err = upd.body(c, "rg", func(n string) bool { return n == "identity" }, false)
	b, _ = json.Marshal(body)
	if err != nil || string(b) != `{"identity":{"type":"None"},"properties":{}}` {
		t.Fatalf("update body %s %v", b, err)
	}
	// Create needs the image flags unless --json is given; --json excludes them.
	if _, err := (&poolSpec{}).body(c, "rg", func(string) bool { return false }, true); err == nil {
		t.Fatal("create without --vm-size accepted")
	}
	if _, err := (&poolSpec{jsonFile: "x.json"}).body(c, "rg", func(n string) bool { return n == "vm-size" }, true); err == nil {
		t.Fatal("--json with --vm-size accepted")
	}
	if _, err := (&poolSpec{vmSize: "v", image: "a:b:c", nodeAgent: "n"}).body(c, "rg", func(string) bool { return false }, true); err == nil {
		t.Fatal("three-part image accepted")
	}
}
