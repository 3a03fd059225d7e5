package odata

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

var taskFields = Options{Fields: []string{"state", "id", "executionInfo/result"}}

func TestParseFilterMatch(t *testing.T) {
	t.Parallel()
	entity := map[string]string{"state": "active", "id": "task-12", "executionInfo/result": "failure"}
	get := func(f string) (string, bool) { v, ok := entity[f]; return v, ok }
	tests := []struct {
		filter string
		match  bool
		bad    bool
	}{
		{"", true, false},
		{"   ", true, false},
		{"state eq 'active'", true, false},
		{"State EQ 'active'", true, false},
		{"state eq 'Active'", false, false},
		{"state eq 'running'", false, false},
		{"state ne 'running'", true, false},
		{"state eq 'running' or state eq 'active'", true, false},
		{"state eq 'active' and id eq 'task-12'", true, false},
		{"state eq 'active' and id eq 'task-13'", false, false},
		{"(state eq 'running' or state eq 'active') and startswith(id, 'task-')", true, false},
		{"StartsWith(id,'nope')", false, false},
		{"not (state eq 'active')", false, false},
		{"not not state eq 'active'", true, false},
		{"executionInfo/result eq 'failure'", true, false},
		{"id eq 'it''s'", false, false},
		{"id eq 12", false, false},
		{"id ne true", true, false},
		{"state eq 'active' or state eq 'running' and id eq 'x'", true, false}, // and binds tighter
		// Refused.
		{"nodeId eq 'x'", false, true},
		{"state gt 'a'", false, true},
		{"state eq", false, true},
		{"state", false, true},
		{"state eq 'unterminated", false, true},
		{"(state eq 'a'", false, true},
		{"state eq 'a')", false, true},
		{"endswith(id, 'x')", false, true},
		{"startswith(id, 12)", false, true},
		{"startswith(nodeId, 'x')", false, true},
		{"startswith(id 'x')", false, true},
		{"state eq 'a' xor id eq 'b'", false, true},
		{"state eq active", false, true},
		{"state eq 'a' ;", false, true},
		{"state eq 99999999999999999999", false, true},
		{"and", false, true},
		{"not", false, true},
		{")", false, true},
		{strings.Repeat("(", 40) + "state eq 'a'" + strings.Repeat(")", 40), false, true},
		{strings.Repeat("not ", 40) + "state eq 'a'", false, true},
		{strings.Repeat("x", 5000), false, true},
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.filter, taskFields)
		if tt.bad {
			var oe *Error
			if !errors.As(err, &oe) || oe.Reason == "" {
				t.Errorf("ParseFilter(%.60q) err = %v, want an *Error", tt.filter, err)
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

func TestParseFilterTree(t *testing.T) {
	t.Parallel()
	f, err := ParseFilter("STATE eq 'a''b' and (not id ne 7 or startswith(ID, 'x'))", taskFields)
	if err != nil {
		t.Fatal(err)
	}
	want := &And{
		L: &Compare{Field: "state", Op: Eq, Value: Literal{String, "a'b"}},
		R: &Or{
			L: &Not{X: &Compare{Field: "id", Op: Ne, Value: Literal{Number, "7"}}},
			R: &Call{Name: "startswith", Args: []Arg{{Field: "id"}, {Literal: Literal{String, "x"}}}},
		},
	}
	if !reflect.DeepEqual(f.Root, Expr(want)) {
		t.Fatalf("tree %#v", f.Root)
	}
}

func TestFunctions(t *testing.T) {
	t.Parallel()
	opt := Options{Fields: []string{"principalId"}, Functions: []string{"atScope", "assignedTo"}, NoStartsWith: true}
	f, err := ParseFilter("atscope() and AssignedTo('P1') and principalId eq 'p2'", opt)
	if err != nil {
		t.Fatal(err)
	}
	got := f.Conjuncts()
	want := []Expr{
		&Call{Name: "atScope"},
		&Call{Name: "assignedTo", Args: []Arg{{Literal: Literal{String, "P1"}}}},
		&Compare{Field: "principalId", Op: Eq, Value: Literal{String, "p2"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("conjuncts %#v", got)
	}
	for _, bad := range []string{"startswith(principalId, 'x')", "atScope(", "atScope(principalId)", "assignedTo('a' 'b')", "other()"} {
		if _, err := ParseFilter(bad, opt); err == nil {
			t.Errorf("ParseFilter(%q) accepted", bad)
		}
	}
	if (*Filter)(nil).Conjuncts() != nil {
		t.Error("conjuncts of a nil filter")
	}
}

func TestMayMatch(t *testing.T) {
	t.Parallel()
	entity := map[string]string{"state": "active", "id": "t1"}
	get := func(f string) (string, bool) { v, ok := entity[f]; return v, ok }
	known := func(f string) bool { return f == "state" || f == "id" }
	opt := Options{Fields: []string{"state", "id", "displayName"}}
	tests := []struct {
		filter   string
		mayMatch bool
	}{
		{"state eq 'active'", true},
		{"state eq 'completed'", false},
		{"displayName eq 'x'", true},
		{"not (displayName eq 'x')", true},
		{"state eq 'completed' and displayName eq 'x'", false},
		{"state eq 'completed' or displayName eq 'x'", true},
		{"state eq 'active' or displayName eq 'x'", true},
		{"not (state eq 'active' or displayName eq 'x')", false},
		{"startswith(displayName, 'a') and id eq 't2'", false},
		{"startswith(id, 't') and not startswith(displayName, 'a')", true},
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.filter, opt)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.MayMatch(get, known); got != tt.mayMatch {
			t.Errorf("MayMatch(%q) = %v, want %v", tt.filter, got, tt.mayMatch)
		}
	}
	var nilFilter *Filter
	if !nilFilter.MayMatch(get, known) || !nilFilter.Match(get) {
		t.Error("a nil filter must match")
	}
}

func TestEqualsAny(t *testing.T) {
	t.Parallel()
	tests := []struct {
		filter string
		values []string
		ok     bool
	}{
		{"state eq 'active'", []string{"active"}, true},
		{"state eq 'a' or (state eq 'b' or state eq 'c')", []string{"a", "b", "c"}, true},
		{"state eq 'a' or id eq 'b'", nil, false},
		{"state ne 'a'", nil, false},
		{"state eq 'a' and id eq 'b'", nil, false},
		{"not state eq 'a'", nil, false},
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.filter, taskFields)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := f.EqualsAny("state")
		if ok != tt.ok || !reflect.DeepEqual(v, tt.values) {
			t.Errorf("EqualsAny(%q) = %q %v, want %q %v", tt.filter, v, ok, tt.values, tt.ok)
		}
	}
}

func TestSelectExpand(t *testing.T) {
	t.Parallel()
	if got := ParseSelect(" id, ,state "); !reflect.DeepEqual(got, []string{"id", "state"}) {
		t.Errorf("ParseSelect = %q", got)
	}
	if ParseSelect("") != nil {
		t.Error("empty $select must be nil")
	}
	got, err := ParseExpand("STATS, metadata", "stats", "metadata")
	if err != nil || !reflect.DeepEqual(got, []string{"stats", "metadata"}) {
		t.Errorf("ParseExpand = %q %v", got, err)
	}
	var oe *Error
	if _, err := ParseExpand("stats,nodes", "stats"); !errors.As(err, &oe) {
		t.Errorf("ParseExpand of an unknown item: %v", err)
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"state eq 'active'", "(state eq 'a' or id ne 'b') and startswith(id,'x')",
		"not not state eq 'a'", "id eq 'it''s'", "state eq -12", "startswith(", "((((", "'", "atScope() and assignedTo('x')"} {
		f.Add(s)
	}
	opt := Options{Fields: []string{"state", "id"}, Functions: []string{"atScope", "assignedTo"}}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s, opt)
		if err != nil {
			var oe *Error
			if !errors.As(err, &oe) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		get := func(string) (string, bool) { return "active", true }
		m := flt.Match(get)
		// Knowing every field, MayMatch is Match (custom functions aside,
		// which MayMatch leaves undecided).
		hasCalls := strings.Contains(strings.ToLower(s), "atscope") || strings.Contains(strings.ToLower(s), "assignedto")
		if !hasCalls && flt.MayMatch(get, func(string) bool { return true }) != m {
			t.Fatalf("MayMatch with every field known differs from Match for %q", s)
		}
		// Knowing no field, nothing may be excluded unless the filter has no fields at all.
		_ = flt.MayMatch(get, func(string) bool { return false })
		flt.Conjuncts()
		flt.EqualsAny("state")
	})
}
