// Package pkitest makes throwaway certificate authorities for tests.
//
// It is a test-only package: it imports testing, which the cobalt binary must
// not link, so only *_test.go files and other test-support packages import it.
package pkitest
