package odata

import (
	"fmt"
	"strconv"
	"strings"
)

// Limits that keep a hostile $filter cheap.
const (
	// MaxFilterLen is the longest $filter accepted, in bytes.
	MaxFilterLen = 4096
	// MaxDepth is the deepest nesting of parentheses and "not" accepted.
	MaxDepth = 32
)

// Error says why a query option was refused. Reason is a sentence fit for
// the protocol's error message.
type Error struct{ Reason string }

func (e *Error) Error() string { return "invalid OData query option: " + e.Reason }

func errorf(format string, args ...any) *Error { return &Error{fmt.Sprintf(format, args...)} }

// Expr is a node of a parsed $filter: *And, *Or, *Not, *Compare or *Call.
type Expr interface{ expr() }

// And is "L and R".
type And struct{ L, R Expr }

// Or is "L or R".
type Or struct{ L, R Expr }

// Not is "not X".
type Not struct{ X Expr }

// Op is a comparison operator.
type Op string

// The comparison operators of the grammar.
const (
	Eq Op = "eq"
	Ne Op = "ne"
)

// LiteralKind is the type of a literal.
type LiteralKind int

// Literal kinds.
const (
	String LiteralKind = iota
	Number
	Bool
)

// Literal is a constant of a filter. Text is the string's value (quotes
// removed, doubled quotes undone), the integer's decimal text, or "true" /
// "false" in lowercase.
type Literal struct {
	Kind LiteralKind
	Text string
}

// Compare is "Field Op Value". Field is spelled as in Options.Fields.
type Compare struct {
	Field string
	Op    Op
	Value Literal
}

// Call is a function call. Name is spelled as in Options.Functions; each
// argument is a field (spelled as in Options.Fields) or a literal.
type Call struct {
	Name string
	Args []Arg
}

// Arg is a function argument: a field when Field is set, else Literal.
type Arg struct {
	Field   string
	Literal Literal
}

func (*And) expr()     {}
func (*Or) expr()      {}
func (*Not) expr()     {}
func (*Compare) expr() {}
func (*Call) expr()    {}

// Filter is a parsed $filter. A nil *Filter (the parse of an empty or
// absent $filter) matches everything.
type Filter struct {
	// Root is the expression tree.
	Root Expr
}

// Options say what a $filter may name.
type Options struct {
	// Fields are the property paths a filter may compare, matched
	// case-insensitively and returned in this spelling ("executionInfo/result").
	Fields []string
	// Functions are the functions a filter may call besides startswith, which
	// is always known: startswith(field, 'prefix'). Others ("atScope",
	// "assignedTo") take literal arguments only.
	Functions []string
	// NoStartsWith refuses startswith.
	NoStartsWith bool
}

// ParseFilter parses s. An empty or blank s gives a nil *Filter. Any error is
// an *Error.
func ParseFilter(s string, opt Options) (*Filter, error) {
	if len(s) > MaxFilterLen {
		return nil, errorf("the filter is longer than %d characters", MaxFilterLen)
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, nil
	}
	p := &parser{toks: toks, opt: opt}
	root, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, errorf("unexpected %q", p.toks[p.pos].text)
	}
	return &Filter{Root: root}, nil
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

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
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
				return nil, errorf("unterminated string literal")
			}
			toks = append(toks, token{tokString, b.String()})
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if _, err := strconv.ParseInt(s[i:j], 10, 64); err != nil {
				return nil, errorf("bad number %q", s[i:j])
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
			return nil, errorf("unexpected character %q", c)
		}
	}
	return toks, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

type parser struct {
	toks []token
	pos  int
	opt  Options
}

func (p *parser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

func (p *parser) keyword(word string) bool {
	t, ok := p.peek()
	if ok && t.kind == tokIdent && strings.EqualFold(t.text, word) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(k tokKind, text string) error {
	t, ok := p.peek()
	if !ok || t.kind != k {
		return errorf("expected %s", text)
	}
	p.pos++
	return nil
}

func (p *parser) or(depth int) (Expr, error) {
	l, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		l = &Or{l, r}
	}
	return l, nil
}

func (p *parser) and(depth int) (Expr, error) {
	l, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		r, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		l = &And{l, r}
	}
	return l, nil
}

func (p *parser) unary(depth int) (Expr, error) {
	if depth > MaxDepth {
		return nil, errorf("the filter is nested too deeply")
	}
	if p.keyword("not") {
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Not{x}, nil
	}
	t, ok := p.peek()
	if !ok {
		return nil, errorf("unexpected end of the filter")
	}
	switch {
	case t.kind == tokLParen:
		p.pos++
		x, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := p.expect(tokRParen, ")"); err != nil {
			return nil, err
		}
		return x, nil
	case t.kind == tokIdent && p.pos+1 < len(p.toks) && p.toks[p.pos+1].kind == tokLParen:
		return p.call()
	case t.kind == tokIdent:
		return p.compare()
	default:
		return nil, errorf("unexpected %q", t.text)
	}
}

func (p *parser) compare() (Expr, error) {
	field, err := p.field()
	if err != nil {
		return nil, err
	}
	op, ok := p.peek()
	if !ok || op.kind != tokIdent {
		return nil, errorf("expected an operator after %s", field)
	}
	c := &Compare{Field: field}
	switch strings.ToLower(op.text) {
	case "eq":
		c.Op = Eq
	case "ne":
		c.Op = Ne
	default:
		return nil, errorf("the operator %q is not supported", op.text)
	}
	p.pos++
	if c.Value, err = p.literal(); err != nil {
		return nil, err
	}
	return c, nil
}

func (p *parser) literal() (Literal, error) {
	t, ok := p.peek()
	if !ok {
		return Literal{}, errorf("expected a literal")
	}
	var l Literal
	switch {
	case t.kind == tokString:
		l = Literal{String, t.text}
	case t.kind == tokNumber:
		l = Literal{Number, t.text}
	case t.kind == tokIdent && (strings.EqualFold(t.text, "true") || strings.EqualFold(t.text, "false")):
		l = Literal{Bool, strings.ToLower(t.text)}
	default:
		return Literal{}, errorf("expected a literal, found %q", t.text)
	}
	p.pos++
	return l, nil
}

func (p *parser) call() (Expr, error) {
	name := p.toks[p.pos].text
	p.pos += 2 // name and "("
	if strings.EqualFold(name, "startswith") && !p.opt.NoStartsWith {
		field, err := p.field()
		if err != nil {
			return nil, err
		}
		if err := p.expect(tokComma, ","); err != nil {
			return nil, err
		}
		if t, ok := p.peek(); !ok || t.kind != tokString {
			return nil, errorf("startswith needs a string literal")
		}
		prefix, _ := p.literal()
		if err := p.expect(tokRParen, ")"); err != nil {
			return nil, err
		}
		return &Call{Name: "startswith", Args: []Arg{{Field: field}, {Literal: prefix}}}, nil
	}
	c := &Call{}
	for _, f := range p.opt.Functions {
		if strings.EqualFold(f, name) {
			c.Name = f
		}
	}
	if c.Name == "" {
		return nil, errorf("the function %q is not supported", name)
	}
	if p.expect(tokRParen, ")") == nil {
		return c, nil
	}
	for {
		l, err := p.literal()
		if err != nil {
			return nil, err
		}
		c.Args = append(c.Args, Arg{Literal: l})
		if p.expect(tokRParen, ")") == nil {
			return c, nil
		}
		if err := p.expect(tokComma, ", or )"); err != nil {
			return nil, err
		}
	}
}

func (p *parser) field() (string, error) {
	t, ok := p.peek()
	if !ok || t.kind != tokIdent {
		return "", errorf("expected a property name")
	}
	for _, f := range p.opt.Fields {
		if strings.EqualFold(f, t.text) {
			p.pos++
			return f, nil
		}
	}
	return "", errorf("filtering on %q is not supported", t.text)
}
