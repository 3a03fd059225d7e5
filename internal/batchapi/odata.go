package batchapi

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/cobaltbatch/cobalt/internal/odata"
)

// Filter is a parsed OData $filter (see package odata): comparisons
// "field eq|ne literal", startswith(field, 'prefix'), combined with and, or,
// not and parentheses. A nil *Filter matches everything.
type Filter = odata.Filter

// FilterError says why a $filter was refused.
type FilterError = odata.Error

// ParseFilter parses s. fields lists the property paths the filter may name
// (matched case-insensitively and returned in the listed spelling); any other
// field, operator or function is a *FilterError.
func ParseFilter(s string, fields []string) (*Filter, error) {
	return odata.ParseFilter(s, odata.Options{Fields: fields})
}

// filterParam parses the request's $filter for the given fields.
func (rc *reqCtx) filterParam(fields []string) (*Filter, error) {
	v, ok := rc.param("$filter")
	if !ok || strings.TrimSpace(v) == "" {
		return nil, nil
	}
	f, err := ParseFilter(v, fields)
	if err != nil {
		var fe *FilterError
		if errors.As(err, &fe) {
			return nil, invalidQuery("$filter", v, fe.Reason)
		}
		return nil, err
	}
	return f, nil
}

// selectParam returns the $select property names, or nil for all.
func (rc *reqCtx) selectParam() []string {
	v, ok := rc.param("$select")
	if !ok || strings.TrimSpace(v) == "" {
		return nil
	}
	return odata.ParseSelect(v)
}

// expandParam validates $expand: only "stats" (ignored, no statistics are
// collected) and "metadata" exist on Batch.
func (rc *reqCtx) expandParam() error {
	v, ok := rc.param("$expand")
	if !ok || strings.TrimSpace(v) == "" {
		return nil
	}
	if _, err := odata.ParseExpand(v, "stats", "metadata"); err != nil {
		return invalidQuery("$expand", v, "Only stats and metadata can be expanded.")
	}
	return nil
}

// applySelect keeps only the selected top-level properties of a JSON object
// (matched case-insensitively); odata.* annotations are kept.
func applySelect(obj []byte, sel []string) []byte {
	if len(sel) == 0 {
		return obj
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return obj
	}
	out := make(map[string]json.RawMessage, len(sel))
	for k, v := range m {
		if strings.HasPrefix(k, "odata.") {
			out[k] = v
			continue
		}
		for _, s := range sel {
			if strings.EqualFold(s, k) {
				out[k] = v
				break
			}
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return obj
	}
	return b
}
