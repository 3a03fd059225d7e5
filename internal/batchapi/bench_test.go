package batchapi

import (
	"encoding/base64"
	"net/http/httptest"
	"testing"
)

// BenchmarkSharedKeyVerify measures verifying a SharedKey signature, which
// tries every documented client variant of the string-to-sign, beside the
// baseline of one HMAC-SHA256 of one string-to-sign.
func BenchmarkSharedKeyVerify(b *testing.B) {
	r := httptest.NewRequest("GET", "https://127.0.0.1:1/jobs/j1/tasks?api-version=2024-07-01.20.0&$filter=state%20eq%20'active'&maxresults=100&timeOut=30", nil)
	r.Header.Set("ocp-date", "Sun, 29 Nov 2026 17:00:22 GMT")
	r.Header.Set("client-request-id", "8f1c")
	key, _ := base64.StdEncoding.DecodeString(testKey)
	s := nodeSigner(r, "acct1")
	sig := signString(key, s)
	b.Run("baseline-one-hmac", func(b *testing.B) {
		for b.Loop() {
			_ = signString(key, s)
		}
	})
	b.Run("verify-all-variants", func(b *testing.B) {
		for b.Loop() {
			if !verifySharedKey(r, "acct1", []string{testKey, testKey}, sig) {
				b.Fatal("not verified")
			}
		}
		b.ReportMetric(float64(len(stringsToSign(r, "acct1"))), "candidates")
	})
}

// BenchmarkFilter measures parsing and evaluating a $filter.
func BenchmarkFilter(b *testing.B) {
	const f = "(state eq 'completed' or state eq 'running') and startswith(id, 'task-') and executionInfo/result ne 'failure'"
	fields := []string{"state", "id", "executionInfo/result"}
	m := map[string]string{"state": "running", "id": "task-12", "executionInfo/result": ""}
	get := func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseFilter(f, fields); err != nil {
				b.Fatal(err)
			}
		}
	})
	flt, _ := ParseFilter(f, fields)
	b.Run("match", func(b *testing.B) {
		for b.Loop() {
			if !flt.Match(get) {
				b.Fatal("no match")
			}
		}
	})
}
