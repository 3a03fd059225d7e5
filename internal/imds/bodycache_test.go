package imds

import (
	"bytes"
	"strconv"
	"testing"
	"time"
)

// TestBodyCache checks that a cached body is always the body computed
// afresh: for the same token within a second, and new when the second, the
// token or the selector changes.
func TestBodyCache(t *testing.T) {
	var c bodyCache
	t0 := time.Unix(1_800_000_000, 100)
	tok := Token{AccessToken: "a.b.c", ClientID: "cid", NotBefore: t0, ExpiresOn: t0.Add(time.Hour)}
	other := tok
	other.AccessToken = "d.e.f"
	for i, step := range []struct {
		now            time.Time
		resource       string
		tok            Token
		echoKey, echo  string
		wantSameAsPrev bool
	}{
		{t0, "https://storage.azure.com/", tok, "", "", false},
		{t0.Add(500 * time.Millisecond), "https://storage.azure.com/", tok, "", "", true},
		{t0.Add(time.Second), "https://storage.azure.com/", tok, "", "", false},
		{t0.Add(time.Second), "https://storage.azure.com/", other, "", "", false},
		{t0.Add(time.Second), "https://management.azure.com/", other, "", "", false},
		{t0.Add(time.Second), "https://management.azure.com/", other, "object_id", "oid", false},
	} {
		e := c.body(step.now, step.resource, step.tok, step.echoKey, step.echo)
		got := e.body
		if len(e.length) != 1 || e.length[0] != strconv.Itoa(len(got)) {
			t.Errorf("step %d: Content-Length %q for %d bytes", i, e.length, len(got))
		}
		want := tokenBody(step.now, step.resource, step.tok, step.echoKey, step.echo)
		if !bytes.Equal(got, want) {
			t.Errorf("step %d: cached body\n%s\nwant\n%s", i, got, want)
		}
		again := c.body(step.now, step.resource, step.tok, step.echoKey, step.echo).body
		if &again[0] != &got[0] {
			t.Errorf("step %d: the same request within the second was not served from the cache", i)
		}
	}
	for i := range maxBodies + 10 {
		c.body(t0, string(rune('a'+i%26))+string(rune(i)), tok, "", "")
	}
	if len(c.entries) > maxBodies {
		t.Errorf("%d cached bodies, the bound is %d", len(c.entries), maxBodies)
	}
}
