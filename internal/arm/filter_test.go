package arm

import (
	"testing"

	"github.com/cobaltbatch/cobalt"
)

func TestParseAssignmentFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in        string
		atScope   bool
		principal string
		bad       bool
	}{
		{"", false, "", false},
		{"atScope()", true, "", false},
		{"principalId eq 'ABC'", false, "abc", false},
		{"assignedTo('x''y')", false, "x'y", false},
		{"atScope() and principalId eq 'p'", true, "p", false},
		{"AtScope() AND assignedTo('p')", true, "p", false},
		{"atScope() or principalId eq 'p'", false, "", true},
		{"principalId ne 'p'", false, "", true},
		{"principalId eq 1", false, "", true},
		{"roleName eq 'Reader'", false, "", true},
		{"atScope('x')", false, "", true},
		{"assignedTo()", false, "", true},
		{"not atScope()", false, "", true},
		{"nonsense", false, "", true},
	}
	for _, tt := range tests {
		got, err := parseAssignmentFilter(tt.in)
		if tt.bad {
			if cobalt.ErrorCode(err) != cobalt.EInvalid {
				t.Errorf("parseAssignmentFilter(%q) = %+v, %v; want EInvalid", tt.in, got, err)
			}
			continue
		}
		if err != nil || got.atScope != tt.atScope || got.principalID != tt.principal {
			t.Errorf("parseAssignmentFilter(%q) = %+v, %v", tt.in, got, err)
		}
	}
}

func TestParseDefinitionFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, field, value string
		bad              bool
	}{
		{"", "", "", false},
		{"atScopeAndBelow()", "", "", false},
		{"roleName eq 'Reader'", "roleName", "Reader", false},
		{"ROLENAME eq 'Storage Blob Data Reader'", "roleName", "Storage Blob Data Reader", false},
		{"type eq 'BuiltInRole'", "type", "BuiltInRole", false},
		{"roleName eq 'a' and type eq 'b'", "", "", true},
		{"roleName ne 'a'", "", "", true},
		{"atScope()", "", "", true},
		{"principalId eq 'x'", "", "", true},
	}
	for _, tt := range tests {
		field, value, err := parseDefinitionFilter(tt.in)
		if tt.bad {
			if cobalt.ErrorCode(err) != cobalt.EInvalid {
				t.Errorf("parseDefinitionFilter(%q) = %q %q %v; want EInvalid", tt.in, field, value, err)
			}
			continue
		}
		if err != nil || field != tt.field || value != tt.value {
			t.Errorf("parseDefinitionFilter(%q) = %q %q %v", tt.in, field, value, err)
		}
	}
}
