package blob

import (
	"strings"

	"github.com/cobaltbatch/cobalt"
)

// tagExpr is one comparison of a tag filter: key op 'value'. The key
// @container compares the container name (with = only).
type tagExpr struct {
	key, op, value string
}

// tagFilter is a conjunction of comparisons (the Find Blobs by Tags and
// x-ms-if-tags grammar subset: =, >, >=, <, <=, AND, @container).
type tagFilter []tagExpr

// maxTagExprs is the most comparisons a filter may hold.
const maxTagExprs = 10

func badFilter() error {
	return apiErr(cobalt.EInvalid, codeInvalidQuery, "Value for one of the query parameters specified in the request URI is invalid: the tag filter is not valid.").WithTarget("where")
}

// parseTagFilter parses `"key" op 'value' AND ...`. Keys are double-quoted
// (or bare tag characters); values are single-quoted.
func parseTagFilter(s string) (tagFilter, error) {
	p := &filterParser{s: s}
	var f tagFilter
	containers := 0
	for {
		p.space()
		key, ok := p.key()
		if !ok {
			return nil, badFilter()
		}
		p.space()
		op, ok := p.op()
		if !ok {
			return nil, badFilter()
		}
		p.space()
		val, ok := p.value()
		if !ok {
			return nil, badFilter()
		}
		if key == "@container" {
			containers++
			if op != "=" || containers > 1 {
				return nil, badFilter()
			}
		} else if !validTagText(key, 1, maxTagKeyLen) || !validTagText(val, 0, maxTagValueLen) {
			return nil, badFilter()
		}
		f = append(f, tagExpr{key: key, op: op, value: val})
		if len(f) > maxTagExprs {
			return nil, badFilter()
		}
		p.space()
		if p.done() {
			return f, nil
		}
		if !p.keyword("AND") {
			return nil, badFilter()
		}
	}
}

type filterParser struct {
	s string
	i int
}

func (p *filterParser) done() bool { return p.i >= len(p.s) }

func (p *filterParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *filterParser) key() (string, bool) {
	if p.done() {
		return "", false
	}
	if p.s[p.i] == '"' {
		end := strings.IndexByte(p.s[p.i+1:], '"')
		if end < 0 {
			return "", false
		}
		k := p.s[p.i+1 : p.i+1+end]
		p.i += end + 2
		return k, k != ""
	}
	start := p.i
	if p.s[p.i] == '@' {
		p.i++
	}
	for p.i < len(p.s) && (isAlnum(p.s[p.i]) || p.s[p.i] == '_') {
		p.i++
	}
	return p.s[start:p.i], p.i > start
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (p *filterParser) op() (string, bool) {
	for _, op := range []string{">=", "<=", "=", ">", "<"} {
		if strings.HasPrefix(p.s[p.i:], op) {
			p.i += len(op)
			return op, true
		}
	}
	return "", false
}

func (p *filterParser) value() (string, bool) {
	if p.done() || p.s[p.i] != '\'' {
		return "", false
	}
	end := strings.IndexByte(p.s[p.i+1:], '\'')
	if end < 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, true
}

// keyword consumes a case-insensitive keyword followed by a space.
func (p *filterParser) keyword(k string) bool {
	if len(p.s)-p.i <= len(k) || !strings.EqualFold(p.s[p.i:p.i+len(k)], k) || p.s[p.i+len(k)] != ' ' {
		return false
	}
	p.i += len(k)
	return true
}

// match evaluates the filter on a blob's container and tags; matched holds
// the tags the filter names (as Find Blobs by Tags returns them).
func (f tagFilter) match(container string, tags map[string]string) (matched map[string]string, ok bool) {
	for _, e := range f {
		if e.key == "@container" {
			if container != e.value {
				return nil, false
			}
			continue
		}
		v, has := tags[e.key]
		if !has {
			return nil, false
		}
		var pass bool
		switch e.op {
		case "=":
			pass = v == e.value
		case ">":
			pass = v > e.value
		case ">=":
			pass = v >= e.value
		case "<":
			pass = v < e.value
		case "<=":
			pass = v <= e.value
		}
		if !pass {
			return nil, false
		}
		if matched == nil {
			matched = map[string]string{}
		}
		matched[e.key] = v
	}
	return matched, true
}
