package agent

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// The service log is one file per UTC hour; a window selects the files
// whose hour overlaps it, and names that are not the agent's are ignored.
func TestServiceLogFilesWindow(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 5, 8, 30, 0, 0, time.UTC)
	l := &serviceLog{root: dir, now: func() time.Time { return now }}
	for _, h := range []int{-3, -1, 0} {
		now = time.Date(2026, 12, 5, 8+h, 10, 0, 0, time.UTC)
		if _, err := l.Write([]byte("line\n")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, serviceLogDir, "agent-notanhour.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	got, err := serviceLogFiles(root, time.Date(2026, 12, 5, 7, 59, 0, 0, time.UTC), time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{serviceLogDir + "/agent-2026120507.log", serviceLogDir + "/agent-2026120508.log"}
	if !slices.Equal(got, want) {
		t.Fatalf("files %q, want %q", got, want)
	}
}

// A node's root that replaces the log directory by a link out of the node
// gets the agent neither to write there nor to list (and so upload) what is
// there.
func TestServiceLogLinkOutOfNode(t *testing.T) {
	node, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "agent-2026120508.log"), []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(node, serviceLogDir)); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	l := &serviceLog{root: node, now: func() time.Time { return now }}
	if _, err := l.Write([]byte("x\n")); err == nil {
		t.Error("the agent wrote through a link out of the node")
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "agent-2026120508.log")); string(b) != "host secret" {
		t.Errorf("the file outside became %q", b)
	}
	root, err := os.OpenRoot(node)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if got, err := serviceLogFiles(root, now.Add(-time.Hour), now.Add(time.Hour)); err == nil && len(got) > 0 {
		t.Errorf("files listed through the link: %q", got)
	}
}
