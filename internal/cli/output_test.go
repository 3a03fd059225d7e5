package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestPrintResult(t *testing.T) {
	t.Parallel()
	items := []json.RawMessage{
		json.RawMessage(`{"name":"a","properties":{"n":1,"ok":true},"tags":{"y":"1","x":"2"}}`),
		json.RawMessage(`{"name":"b\tc","properties":{"n":2}}`),
	}
	cols := []column{col("Name", "name"), col("N", "properties.n"), col("OK", "properties.ok"), col("Tags", "tags")}
	for _, tc := range []struct{ format, want string }{
		{"table", "Name  N     OK    Tags\n----  ----  ----  ----\na     1     True  x,y\nb c   2           \n"},
		{"tsv", "a\t1\tTrue\tx,y\nb c\t2\t\t\n"},
		{"json", "[\n  {\n    \"name\": \"a\",\n"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var out bytes.Buffer
			g := &globals{Output: tc.format, Stdout: &out}
			if err := printResult(g, items, cols); err != nil {
				t.Fatal(err)
			}
			if tc.format == "json" {
				if !strings.HasPrefix(out.String(), tc.want) {
					t.Fatalf("got\n%s", out.String())
				}
				return
			}
			if out.String() != tc.want {
				t.Fatalf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
}

func TestPrintResultDefaults(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	g := &globals{Output: "tsv", Stdout: &out}
	// No columns: the sorted scalar fields.
	if err := printResult(g, map[string]any{"b": 2, "a": "x", "nested": map[string]any{}}, nil); err != nil {
		t.Fatal(err)
	}
	if out.String() != "x\t2\n" {
		t.Fatalf("got %q", out.String())
	}
	// Not a terminal: json by default.
	out.Reset()
	g.Output = ""
	if err := printResult(g, []json.RawMessage(nil), nil); err != nil || out.String() != "[]\n" {
		t.Fatalf("got %q %v", out.String(), err)
	}
	g.Output = "yaml"
	if err := printResult(g, map[string]any{}, nil); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func TestCountStates(t *testing.T) {
	t.Parallel()
	if got := countStates([]string{"idle", "starting", "idle"}); got != "2 idle, 1 starting" {
		t.Fatalf("got %q", got)
	}
	if got := countStates(nil); got != "no nodes" {
		t.Fatalf("got %q", got)
	}
	var out bytes.Buffer
	p := &progress{}
	p.update("x") // not a terminal: silent
	p.done()
	p = &progress{w: &out}
	p.update("a")
	p.update("a")
	p.update("b")
	p.done()
	if out.String() != "\r\033[Ka\r\033[Kb\n" {
		t.Fatalf("got %q", out.String())
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	var v any
	json.Unmarshal([]byte(`{"a":{"b":[{"c":"x"},{"c":"y"}]}}`), &v)
	for path, want := range map[string]any{"a.b.1.c": "y", "a.b.2.c": nil, "a.b.x": nil, "a.b.-1": nil, "a.z": nil, "a.b.0.c.d": nil} {
		if got := lookup(v, path); got != want {
			t.Errorf("%s: got %v, want %v", path, got, want)
		}
	}
}

func TestSelectQuery(t *testing.T) {
	t.Parallel()
	var v any
	json.Unmarshal([]byte(`[{"name":"a","p":{"id":"1"},"l":[1,2]},{"name":"b","p":{"id":"2"}}]`), &v)
	for _, tc := range []struct{ q, want string }{
		{"[].name", `["a","b"]`},
		{"[1].p.id", `"2"`},
		{"[-1].name", `"b"`},
		{"[0].l[1]", `2`},
		{"[5].name", `null`},
		{"[].p", `[{"id":"1"},{"id":"2"}]`},
		{"name", `null`},
		{"", `[{"l":[1,2],"name":"a","p":{"id":"1"}},{"name":"b","p":{"id":"2"}}]`},
	} {
		got, err := selectQuery(v, tc.q)
		b, _ := json.Marshal(got)
		if err != nil || string(b) != tc.want {
			t.Errorf("%q: got %s %v, want %s", tc.q, b, err, tc.want)
		}
	}
	if _, err := selectQuery(v, "[x]"); err == nil {
		t.Error("bad index accepted")
	}
	var out bytes.Buffer
	g := &globals{Output: "tsv", Stdout: &out}
	if err := printQueried(g, v, nil, "[].name"); err != nil || out.String() != "a\nb\n" {
		t.Fatalf("tsv list: %q %v", out.String(), err)
	}
	out.Reset()
	if err := printQueried(g, v, nil, "[0].p.id"); err != nil || out.String() != "1\n" {
		t.Fatalf("tsv scalar: %q %v", out.String(), err)
	}
}

func FuzzSelectQuery(f *testing.F) {
	for _, q := range []string{"[].name", "[0].p.id", "a.b[2]", "[", "[]]", ".", "[-9]"} {
		f.Add(q)
	}
	var v any
	json.Unmarshal([]byte(`[{"name":"a","p":{"id":"1"},"l":[1,2]}]`), &v)
	f.Fuzz(func(t *testing.T, q string) { _, _ = selectQuery(v, q) })
}
