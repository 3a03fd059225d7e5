package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDemo runs `cobalt demo` as a newcomer would on a fresh machine: it starts
// an embedded Cobalt and walks the seed scenario to the end.
func TestDemo(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"demo"}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"blob says: Hello from blob storage, read with the pool's managed identity.",
		"start task left: input for the start task",
		`"signatureVerified": true`,
		// The claims that say whose token it is, uncut (#15).
		`"xms_mirid": "/subscriptions/`,
		`/providers/Microsoft.ManagedIdentity/userAssignedIdentities/demo-identity"`,
		`"oid": "`,
		`"appid": "`,
		`"aud": "https://storage.azure.com/"`,
		// cobalt audit tokens lists the tokens issued to the pool's node.
		`"pool": "demopool",`,
		`"principalId": "`,
		"The seed walkthrough completed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
