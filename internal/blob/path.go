package blob

import (
	"strings"
	"unicode/utf8"

	"github.com/cobaltbatch/cobalt"
)

// target is what a request path names: an account, a container in it, or a blob.
type target struct {
	Account   string
	Container string
	Blob      string
}

// level tells what a target names.
func (t target) level() int {
	switch {
	case t.Blob != "":
		return levelBlob
	case t.Container != "":
		return levelContainer
	default:
		return levelAccount
	}
}

const (
	levelAccount = iota
	levelContainer
	levelBlob
)

// maxBlobNameLen is the longest blob name, in characters.
const maxBlobNameLen = 1024

// parsePath splits a decoded path-style request path,
// /{account}[/{container}[/{blob}]], and validates each name. A trailing slash
// after the account or container names that level.
func parsePath(p string) (target, error) {
	if !strings.HasPrefix(p, "/") {
		return target{}, apiErr(cobalt.EInvalid, codeInvalidURI, "The requested URI does not represent any resource on the server.")
	}
	parts := strings.SplitN(p[1:], "/", 3)
	t := target{Account: parts[0]}
	if len(parts) > 1 {
		t.Container = parts[1]
	}
	if len(parts) > 2 {
		t.Blob = parts[2]
	}
	if !validAccountName(t.Account) {
		return target{}, apiErr(cobalt.EInvalid, codeInvalidURI, "The requested URI does not represent any resource on the server.")
	}
	if t.Container == "" {
		if t.Blob != "" {
			return target{}, apiErr(cobalt.EInvalid, codeInvalidURI, "The requested URI does not represent any resource on the server.")
		}
		return t, nil
	}
	if !validContainerName(t.Container) {
		return target{}, apiErr(cobalt.EInvalid, codeInvalidResName, "The specified resource name contains invalid characters.")
	}
	if t.Blob != "" {
		if err := checkBlobName(t.Blob); err != nil {
			return target{}, err
		}
	}
	return t, nil
}

// validAccountName: 3 to 24 lower-case letters and digits.
func validAccountName(s string) bool {
	if len(s) < 3 || len(s) > 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// validContainerName: 3 to 63 lower-case letters, digits and single hyphens,
// starting and ending with a letter or digit; or one of the special containers.
func validContainerName(s string) bool {
	switch s {
	case "$root", "$logs", "$web":
		return true
	}
	if len(s) < 3 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// checkBlobName: 1 to 1024 characters of valid UTF-8 without NUL.
func checkBlobName(s string) error {
	if s == "" || !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 || utf8.RuneCountInString(s) > maxBlobNameLen {
		return apiErr(cobalt.EInvalid, codeInvalidResName, "The specified resource name contains invalid characters.")
	}
	return nil
}
