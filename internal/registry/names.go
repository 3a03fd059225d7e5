package registry

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// The grammar of the OCI Distribution Specification v1.1, compiled at first
// use rather than at every start of the binary (node inits included).
var (
	repoRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	})
	tagRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`) })
	hexRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-f0-9]{64}$`) })
	uuidRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$`)
	})
	// digestRE is the general digest grammar; only sha256 is stored.
	digestRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`) })
)

// maxRepoLen bounds a repository name (ACR allows up to 256 characters... of
// the whole reference; the spec suggests hosts + names under 255).
const maxRepoLen = 256

func validRepo(s string) bool     { return len(s) <= maxRepoLen && repoRE().MatchString(s) }
func validTag(s string) bool      { return tagRE().MatchString(s) }
func validHex(s string) bool      { return hexRE().MatchString(s) }
func validUploadID(s string) bool { return uuidRE().MatchString(s) }

// errDigestUnsupported is a syntactically valid digest of an algorithm other than sha256.
var errDigestUnsupported = errors.New("unsupported digest algorithm")

// parseDigest returns the hex of a "sha256:<hex>" digest.
func parseDigest(s string) (string, error) {
	if !digestRE().MatchString(s) {
		return "", errors.New("invalid digest")
	}
	alg, h, _ := strings.Cut(s, ":")
	if alg != "sha256" {
		return "", errDigestUnsupported
	}
	if !validHex(h) {
		return "", errors.New("invalid sha256 digest")
	}
	return h, nil
}

// parseContentRange parses an upload chunk's Content-Range, "<start>-<end>"
// (inclusive; the spec's form), also accepting the "bytes " prefix and a
// "/<total>" or "/*" suffix some clients add.
func parseContentRange(s string) (start, end int64, err error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "bytes ")
	s = strings.TrimPrefix(s, "bytes=")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, errors.New("invalid Content-Range")
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, errors.New("invalid Content-Range")
	}
	return start, end, nil
}
