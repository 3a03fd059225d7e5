package batchapi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseFilter(t *testing.T) {
	t.Parallel()
	fields := []string{"state", "id", "executionInfo/result"}
	entity := map[string]string{"state": "active", "id": "task-12", "executionInfo/result": "failure"}
	get := func(f string) (string, bool) { v, ok := entity[f]; return v, ok }
	tests := []struct {
		filter string
		match  bool
		bad    bool
	}{
		{"", true, false},
		{"state eq 'active'", true, false},
		{"State EQ 'active'", true, false},
		{"state eq 'running'", false, false},
		{"state ne 'running'", true, false},
		{"state eq 'running' or state eq 'active'", true, false},
		{"state eq 'active' and id eq 'task-12'", true, false},
		{"state eq 'active' and id eq 'task-13'", false, false},
		{"(state eq 'running' or state eq 'active') and startswith(id, 'task-')", true, false},
		{"startswith(id,'nope')", false, false},
		{"not (state eq 'active')", false, false},
		{"executionInfo/result eq 'failure'", true, false},
		{"id eq 'it''s'", false, false},
		{"state eq 'active' or state eq 'running' and id eq 'x'", true, false}, // and binds tighter
		// Refused.
		{"nodeId eq 'x'", false, true},
		{"state gt 'a'", false, true},
		{"state eq", false, true},
		{"state eq 'unterminated", false, true},
		{"(state eq 'a'", false, true},
		{"state eq 'a')", false, true},
		{"endswith(id, 'x')", false, true},
		{"state eq 'a' xor id eq 'b'", false, true},
		{"state eq active", false, true},
		{"state eq 'a' ;", false, true},
		{strings.Repeat("(", 40) + "state eq 'a'" + strings.Repeat(")", 40), false, true},
		{strings.Repeat("x", 5000), false, true},
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.filter, fields)
		if tt.bad {
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Errorf("ParseFilter(%.60q) err = %v, want a FilterError", tt.filter, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseFilter(%q): %v", tt.filter, err)
			continue
		}
		if got := f.Match(get); got != tt.match {
			t.Errorf("ParseFilter(%q).Match = %v, want %v", tt.filter, got, tt.match)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"state eq 'active'", "(state eq 'a' or id ne 'b') and startswith(id,'x')",
		"not not state eq 'a'", "id eq 'it''s'", "state eq -12", "startswith(", "((((", "'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s, []string{"state", "id"})
		if err != nil {
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("non-FilterError %v", err)
			}
			return
		}
		flt.Match(func(string) (string, bool) { return "active", true })
	})
}

func TestApplySelect(t *testing.T) {
	t.Parallel()
	in := []byte(`{"id":"a","state":"active","url":"u","odata.metadata":"m"}`)
	var got map[string]any
	if err := json.Unmarshal(applySelect(in, []string{"ID", "state"}), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["id"] != "a" || got["state"] != "active" || got["odata.metadata"] != "m" {
		t.Fatalf("applySelect = %v", got)
	}
	if string(applySelect(in, nil)) != string(in) {
		t.Fatal("no $select must keep the body")
	}
}
