package batchapi

import (
	"github.com/cobaltbatch/cobalt/internal/nodefiles"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCleanFilePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		bad      bool
	}{
		{"stdout.txt", "stdout.txt", false},
		{"wd/out.txt", "wd/out.txt", false},
		{`wd\out.txt`, "wd/out.txt", false},
		{"wd//./out.txt", "wd/out.txt", false},
		{"", "", false},
		{"../x", "", true},
		{"wd/../../x", "", true},
		{`..\x`, "", true},
		{"/etc/passwd", "", true},
		{"a\x00b", "", true},
	}
	for _, tt := range tests {
		got, err := cleanFilePath(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("cleanFilePath(%q) = %q, %v; want %q bad=%v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func FuzzCleanFilePath(f *testing.F) {
	for _, s := range []string{"stdout.txt", "../a", `a\..\..\b`, "/x", "a/./b//c", ".."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := cleanFilePath(s)
		if err != nil {
			return
		}
		if strings.HasPrefix(got, "/") || got == ".." || strings.HasPrefix(got, "../") || strings.Contains(got, "/../") {
			t.Fatalf("cleanFilePath(%q) = %q escapes", s, got)
		}
		if filepath.IsAbs(filepath.FromSlash(got)) {
			t.Fatalf("cleanFilePath(%q) = %q is absolute", s, got)
		}
	})
}

func TestParseRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in            string
		size          int64
		start, length int64
		ok            bool
	}{
		{"bytes=0-9", 10, 0, 10, true},
		{"bytes=2-5", 10, 2, 4, true},
		{"bytes=5-", 10, 5, 5, true},
		{"bytes=-3", 10, 7, 3, true},
		{"bytes=-30", 10, 0, 10, true},
		{"bytes=8-100", 10, 8, 2, true},
		{"bytes=10-", 10, 0, 0, false},
		{"bytes=5-2", 10, 0, 0, false},
		{"bytes=0-1,3-4", 10, 0, 0, false},
		{"items=0-1", 10, 0, 0, false},
		{"bytes=-0", 10, 0, 0, false},
		{"bytes=a-b", 10, 0, 0, false},
	}
	for _, tt := range tests {
		r, ok := parseRange(tt.in, tt.size)
		if ok != tt.ok || (ok && (r.start != tt.start || r.length != tt.length)) {
			t.Errorf("parseRange(%q, %d) = %+v %v", tt.in, tt.size, r, ok)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	f.Add("bytes=0-9", int64(10))
	f.Add("bytes=-5", int64(3))
	f.Add("bytes=9223372036854775806-", int64(9223372036854775807))
	f.Fuzz(func(t *testing.T, s string, size int64) {
		if size < 0 {
			return
		}
		r, ok := parseRange(s, size)
		if ok && (r.start < 0 || r.length <= 0 || r.start+r.length > size) {
			t.Fatalf("parseRange(%q, %d) = %+v", s, size, r)
		}
	})
}

// TestServeFileSymlinkEscape checks that a symbolic link inside the task
// directory cannot serve a file outside it.
func TestServeFileSymlinkEscape(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "link")); err != nil {
		t.Skip(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ok.txt"), []byte("fine"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newTestService(t, testNow)
	for _, tt := range []struct {
		file   string
		status int
	}{{"ok.txt", 200}, {"link", 404}, {"../" + filepath.Base(outside) + "/secret", 400}} {
		r := httptest.NewRequest("GET", "https://127.0.0.1:1/x", nil)
		w := httptest.NewRecorder()
		rc := &reqCtx{s: s, w: w, r: r, requestID: "r"}
		if err := rc.serveFile(fileRoot{src: nodefiles.Local(dir)}, tt.file, "/jobs/j/tasks/t/files/"); err != nil {
			rc.writeError(err) // as the router does
		}
		if w.Code != tt.status {
			t.Errorf("serveFile(%q) = %d, want %d", tt.file, w.Code, tt.status)
		}
		if tt.status == http.StatusOK && w.Body.String() != "fine" {
			t.Errorf("serveFile(%q) body %q", tt.file, w.Body.String())
		}
	}
}
