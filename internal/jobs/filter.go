package jobs

import (
	"slices"
	"strings"

	"github.com/cobaltbatch/cobalt/internal/odata"
)

// listFilter narrows a list with the parts of a parsed $filter that the service
// can evaluate: comparisons of the fields it was built for. It never drops
// an item that the whole filter would keep, so the caller (the data plane,
// which knows every field) applies the exact filter to what comes back.
type listFilter struct {
	f      *odata.Filter
	fields []string
}

// newListFilter returns the listFilter of f over the given fields; a nil f
// keeps everything.
func newListFilter(f *odata.Filter, fields ...string) *listFilter {
	return &listFilter{f: f, fields: fields}
}

// Match reports whether an item with these field values may match the
// filter.
func (f *listFilter) Match(vals map[string]string) bool {
	return f.f.MayMatch(func(field string) (string, bool) {
		v, ok := vals[field]
		return v, ok
	}, func(field string) bool { return slices.Contains(f.fields, field) })
}

// States returns the state values when the filter is a disjunction of
// "state eq" comparisons (which the store can select directly), else nil.
func (f *listFilter) States() []string {
	if !slices.Contains(f.fields, "state") {
		return nil
	}
	vals, ok := f.f.EqualsAny("state")
	if !ok {
		return nil
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.ToLower(v)
	}
	return out
}
