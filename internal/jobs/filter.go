package jobs

import (
	"strings"

	"github.com/cobaltbatch/cobalt"
)

// Filter is a parsed OData $filter over string fields: comparisons
// "field eq 'value'" and "field ne 'value'", combined with and, or, not and
// parentheses. Values compare case-insensitively.
type Filter struct {
	root fnode
}

type fnode struct {
	op          string // "eq", "ne", "and", "or", "not", "" (true)
	field, val  string
	left, right *fnode
}

func badFilter(msg string) error {
	return batchErr(cobalt.EInvalid, "InvalidQueryParameterValue", "The value for the $filter query parameter is not valid: %s", msg).WithTarget("$filter")
}

// ParseFilter parses s, allowing only the given fields (matched case-insensitively).
// An empty s matches everything.
func ParseFilter(s string, fields ...string) (*Filter, error) {
	if len(s) > 4096 {
		return nil, badFilter("too long")
	}
	toks, err := lexFilter(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return &Filter{root: fnode{}}, nil
	}
	p := &fparser{toks: toks, fields: fields}
	n, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.i != len(toks) {
		return nil, badFilter("unexpected " + toks[p.i].s)
	}
	return &Filter{root: *n}, nil
}

type ftok struct {
	s   string
	str bool
}

func lexFilter(s string) ([]ftok, error) {
	var out []ftok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')':
			out = append(out, ftok{s: string(c)})
			i++
		case c == '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, badFilter("unterminated string")
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			out = append(out, ftok{s: b.String(), str: true})
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '(' && s[j] != ')' && s[j] != '\'' {
				j++
			}
			out = append(out, ftok{s: s[i:j]})
			i = j
		}
	}
	return out, nil
}

type fparser struct {
	toks   []ftok
	i      int
	fields []string
}

func (p *fparser) kw(w string) bool {
	if p.i < len(p.toks) && !p.toks[p.i].str && strings.EqualFold(p.toks[p.i].s, w) {
		p.i++
		return true
	}
	return false
}

func (p *fparser) or(depth int) (*fnode, error) {
	if depth > 50 {
		return nil, badFilter("nested too deeply")
	}
	l, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.kw("or") {
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		l = &fnode{op: "or", left: l, right: r}
	}
	return l, nil
}

func (p *fparser) and(depth int) (*fnode, error) {
	l, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.kw("and") {
		r, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		l = &fnode{op: "and", left: l, right: r}
	}
	return l, nil
}

func (p *fparser) unary(depth int) (*fnode, error) {
	if p.kw("not") {
		n, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &fnode{op: "not", left: n}, nil
	}
	if p.kw("(") {
		n, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if !p.kw(")") {
			return nil, badFilter("missing )")
		}
		return n, nil
	}
	if p.i+3 > len(p.toks) {
		return nil, badFilter("incomplete comparison")
	}
	f, op, v := p.toks[p.i], p.toks[p.i+1], p.toks[p.i+2]
	if f.str || op.str || !v.str {
		return nil, badFilter("expected field op 'value'")
	}
	field := ""
	for _, a := range p.fields {
		if strings.EqualFold(a, f.s) {
			field = a
		}
	}
	if field == "" {
		return nil, badFilter("unsupported property " + f.s)
	}
	o := strings.ToLower(op.s)
	if o != "eq" && o != "ne" {
		return nil, badFilter("unsupported operator " + op.s)
	}
	p.i += 3
	return &fnode{op: o, field: field, val: v.s}, nil
}

// Match reports whether the field values satisfy the filter.
func (f *Filter) Match(vals map[string]string) bool { return f.root.eval(vals) }

func (n *fnode) eval(vals map[string]string) bool {
	switch n.op {
	case "":
		return true
	case "eq":
		return strings.EqualFold(vals[n.field], n.val)
	case "ne":
		return !strings.EqualFold(vals[n.field], n.val)
	case "and":
		return n.left.eval(vals) && n.right.eval(vals)
	case "or":
		return n.left.eval(vals) || n.right.eval(vals)
	case "not":
		return !n.left.eval(vals)
	}
	return false
}

// States returns the state values when the filter is a disjunction of
// "state eq" comparisons (which the store can select directly), else nil.
func (f *Filter) States() []string {
	var out []string
	var walk func(n *fnode) bool
	walk = func(n *fnode) bool {
		switch n.op {
		case "or":
			return walk(n.left) && walk(n.right)
		case "eq":
			if n.field == "state" {
				out = append(out, strings.ToLower(n.val))
				return true
			}
		}
		return false
	}
	if !walk(&f.root) {
		return nil
	}
	return out
}
