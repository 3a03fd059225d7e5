package odata

import "strings"

// ParseSelect returns the property names of a $select ("id,state"), blanks
// trimmed and empty items dropped; nil for an empty $select (all properties).
func ParseSelect(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ParseExpand returns the items of an $expand, each spelled as in allowed
// (matched case-insensitively); an item not in allowed is an *Error.
func ParseExpand(s string, allowed ...string) ([]string, error) {
	var out []string
	for _, p := range ParseSelect(s) {
		found := ""
		for _, a := range allowed {
			if strings.EqualFold(a, p) {
				found = a
			}
		}
		if found == "" {
			return nil, errorf("%q cannot be expanded", p)
		}
		out = append(out, found)
	}
	return out, nil
}
