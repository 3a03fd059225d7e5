package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStoreDSN(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "store")
	if err := os.WriteFile(file, []byte("postgres://cobalt:pw@db/cobalt\n# comment\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "COBALT_STORE" {
				return v
			}
			return ""
		}
	}
	for _, c := range []struct {
		name, flag, file, env, want string
		bad                         bool
	}{
		{name: "nothing: SQLite"},
		{name: "environment", env: "postgres://e@db/x", want: "postgres://e@db/x"},
		{name: "file", file: file, env: "postgres://e@db/x", want: "postgres://cobalt:pw@db/cobalt"},
		{name: "flag", flag: "postgres://f@db/x", env: "postgres://e@db/x", want: "postgres://f@db/x"},
		{name: "flag and file", flag: "postgres://f@db/x", file: file, bad: true},
		{name: "missing file", file: filepath.Join(dir, "nope"), bad: true},
		{name: "empty file", file: empty, bad: true},
	} {
		got, err := storeDSN(c.flag, c.file, env(c.env))
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("%s: %q, %v; want %q (error %v)", c.name, got, err, c.want, c.bad)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: the error %q shows the password", c.name, err)
		}
	}
}
