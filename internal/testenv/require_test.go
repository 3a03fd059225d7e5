package testenv

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Fatalf and Skipf instead of ending
// the test, so that the policy itself can be checked.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Skipf(format string, args ...any)  { r.skip = fmt.Sprintf(format, args...) }

func TestMissingRequirementSkipsOutsideCIAndFailsInCI(t *testing.T) {
	missing := NodeModule("@azure/no-such-package-cobalt-test")
	for _, ci := range []string{"", "false", "true", "1"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		Require(r, missing)
		inCI := ci == "true" || ci == "1"
		if inCI && (r.fatal == "" || r.skip != "") || !inCI && (r.skip == "" || r.fatal != "") {
			t.Errorf("CI=%q: fatal %q, skip %q", ci, r.fatal, r.skip)
		}
		if msg := r.fatal + r.skip; !strings.Contains(msg, "@azure/no-such-package-cobalt-test") {
			t.Errorf("CI=%q: the message %q does not name what is missing", ci, msg)
		}
	}
}

func TestPostgresURLUnsetFailsInCI(t *testing.T) {
	t.Setenv(EnvPostgresURL, "")
	t.Setenv("CI", "true")
	r := &recorder{TB: t}
	PostgresURL(r)
	if r.fatal == "" {
		t.Fatal("an unset TEST_POSTGRES_URL did not fail under CI=true")
	}
}
