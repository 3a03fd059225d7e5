package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryDoesNotLinkTesting guards the line between the product and its
// test support: helpers that import testing (servertest, pkitest, testenv)
// must never become dependencies of the cobalt binary, whose flags would
// otherwise grow the testing package's -test.* flags and whose size and
// attack surface would grow with code that only tests need.
func TestBinaryDoesNotLinkTesting(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps printed nothing")
	}
	for _, d := range deps {
		if d == "testing" || strings.HasPrefix(d, "testing/") || strings.HasSuffix(d, "/servertest") ||
			strings.HasSuffix(d, "/pkitest") || strings.HasSuffix(d, "/testenv") || strings.HasSuffix(d, "/sdkharness") {
			t.Errorf("the cobalt binary links %s", d)
		}
	}
}
