package batchapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Filter is a parsed OData $filter in the small subset the data plane
// supports: comparisons "field eq|ne literal", startswith(field, 'prefix'),
// combined with and, or, not and parentheses. Literals are single-quoted
// strings (” escapes a quote), integers, true and false.
type Filter struct{ root filterNode }

// filterNode is a node of a parsed filter.
type filterNode interface {
	eval(get func(field string) (string, bool)) bool
}

type (
	orNode  struct{ l, r filterNode }
	andNode struct{ l, r filterNode }
	notNode struct{ x filterNode }
	cmpNode struct {
		field, value string
		ne           bool
	}
	startsNode struct{ field, prefix string }
)

func (n orNode) eval(g func(string) (string, bool)) bool  { return n.l.eval(g) || n.r.eval(g) }
func (n andNode) eval(g func(string) (string, bool)) bool { return n.l.eval(g) && n.r.eval(g) }
func (n notNode) eval(g func(string) (string, bool)) bool { return !n.x.eval(g) }
func (n cmpNode) eval(g func(string) (string, bool)) bool {
	v, ok := g(n.field)
	eq := ok && v == n.value
	return eq != n.ne
}
func (n startsNode) eval(g func(string) (string, bool)) bool {
	v, ok := g(n.field)
	return ok && strings.HasPrefix(v, n.prefix)
}

// Match reports whether an entity, whose field values get returns, matches
// the filter. A nil filter matches everything.
func (f *Filter) Match(get func(field string) (string, bool)) bool {
	if f == nil || f.root == nil {
		return true
	}
	return f.root.eval(get)
}

// Limits that keep a hostile $filter cheap.
const (
	maxFilterLen   = 4096
	maxFilterDepth = 32
)

// FilterError says why a $filter was refused.
type FilterError struct{ Reason string }

func (e *FilterError) Error() string { return "invalid $filter: " + e.Reason }

// ParseFilter parses s. fields lists the property paths the filter may name
// (matched case-insensitively and returned in the listed spelling); any other
// field, operator or function is a *FilterError.
func ParseFilter(s string, fields []string) (*Filter, error) {
	if len(s) > maxFilterLen {
		return nil, &FilterError{"the filter is longer than 4096 characters"}
	}
	toks, err := lexFilter(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, nil
	}
	p := &filterParser{toks: toks, fields: fields}
	root, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, &FilterError{fmt.Sprintf("unexpected %q", p.toks[p.pos].text)}
	}
	return &Filter{root: root}, nil
}

type tokKind int

const (
	tokIdent tokKind = iota
	tokString
	tokNumber
	tokLParen
	tokRParen
	tokComma
)

type token struct {
	kind tokKind
	text string
}

func lexFilter(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tokLParen, "("})
			i++
		case c == ')':
			toks = append(toks, token{tokRParen, ")"})
			i++
		case c == ',':
			toks = append(toks, token{tokComma, ","})
			i++
		case c == '\'':
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, &FilterError{"unterminated string literal"}
			}
			toks = append(toks, token{tokString, b.String()})
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if _, err := strconv.ParseInt(s[i:j], 10, 64); err != nil {
				return nil, &FilterError{fmt.Sprintf("bad number %q", s[i:j])}
			}
			toks = append(toks, token{tokNumber, s[i:j]})
			i = j
		case isIdentStart(c):
			j := i + 1
			for j < len(s) && (isIdentStart(s[j]) || (s[j] >= '0' && s[j] <= '9') || s[j] == '/') {
				j++
			}
			toks = append(toks, token{tokIdent, s[i:j]})
			i = j
		default:
			return nil, &FilterError{fmt.Sprintf("unexpected character %q", c)}
		}
	}
	return toks, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

type filterParser struct {
	toks   []token
	pos    int
	fields []string
}

func (p *filterParser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

func (p *filterParser) keyword(word string) bool {
	t, ok := p.peek()
	if ok && t.kind == tokIdent && strings.EqualFold(t.text, word) {
		p.pos++
		return true
	}
	return false
}

func (p *filterParser) parseOr(depth int) (filterNode, error) {
	l, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		r, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *filterParser) parseAnd(depth int) (filterNode, error) {
	l, err := p.parseUnary(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		r, err := p.parseUnary(depth)
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
	return l, nil
}

func (p *filterParser) parseUnary(depth int) (filterNode, error) {
	if depth > maxFilterDepth {
		return nil, &FilterError{"the filter is nested too deeply"}
	}
	if p.keyword("not") {
		x, err := p.parseUnary(depth + 1)
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	}
	t, ok := p.peek()
	if !ok {
		return nil, &FilterError{"unexpected end of the filter"}
	}
	switch {
	case t.kind == tokLParen:
		p.pos++
		x, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := p.expect(tokRParen, ")"); err != nil {
			return nil, err
		}
		return x, nil
	case t.kind == tokIdent && strings.EqualFold(t.text, "startswith"):
		p.pos++
		if err := p.expect(tokLParen, "("); err != nil {
			return nil, err
		}
		field, err := p.field()
		if err != nil {
			return nil, err
		}
		if err := p.expect(tokComma, ","); err != nil {
			return nil, err
		}
		lit, ok := p.peek()
		if !ok || lit.kind != tokString {
			return nil, &FilterError{"startswith needs a string literal"}
		}
		p.pos++
		if err := p.expect(tokRParen, ")"); err != nil {
			return nil, err
		}
		return startsNode{field, lit.text}, nil
	case t.kind == tokIdent:
		field, err := p.field()
		if err != nil {
			return nil, err
		}
		op, ok := p.peek()
		if !ok || op.kind != tokIdent {
			return nil, &FilterError{"expected an operator after " + field}
		}
		var ne bool
		switch strings.ToLower(op.text) {
		case "eq":
		case "ne":
			ne = true
		default:
			return nil, &FilterError{fmt.Sprintf("the operator %q is not supported", op.text)}
		}
		p.pos++
		lit, ok := p.peek()
		if !ok {
			return nil, &FilterError{"expected a literal"}
		}
		var val string
		switch {
		case lit.kind == tokString || lit.kind == tokNumber:
			val = lit.text
		case lit.kind == tokIdent && (strings.EqualFold(lit.text, "true") || strings.EqualFold(lit.text, "false")):
			val = strings.ToLower(lit.text)
		default:
			return nil, &FilterError{fmt.Sprintf("expected a literal, found %q", lit.text)}
		}
		p.pos++
		return cmpNode{field: field, value: val, ne: ne}, nil
	default:
		return nil, &FilterError{fmt.Sprintf("unexpected %q", t.text)}
	}
}

func (p *filterParser) expect(k tokKind, text string) error {
	t, ok := p.peek()
	if !ok || t.kind != k {
		return &FilterError{"expected " + text}
	}
	p.pos++
	return nil
}

func (p *filterParser) field() (string, error) {
	t, ok := p.peek()
	if !ok || t.kind != tokIdent {
		return "", &FilterError{"expected a property name"}
	}
	for _, f := range p.fields {
		if strings.EqualFold(f, t.text) {
			p.pos++
			return f, nil
		}
	}
	return "", &FilterError{fmt.Sprintf("filtering on %q is not supported", t.text)}
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
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// expandParam validates $expand: only "stats" (ignored, no statistics are
// collected) and "metadata" exist on Batch.
func (rc *reqCtx) expandParam() error {
	v, ok := rc.param("$expand")
	if !ok || strings.TrimSpace(v) == "" {
		return nil
	}
	for _, p := range strings.Split(v, ",") {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "stats", "metadata":
		default:
			return invalidQuery("$expand", v, "Only stats and metadata can be expanded.")
		}
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
