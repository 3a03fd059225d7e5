package batch

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/cobaltbatch/cobalt/internal/errwire"
)

// parser is a recursive-descent evaluator over one statement's expression
// (src[pos:end]). While dry > 0 it parses without evaluating: the branch of
// a conditional that is not taken, and the right of a decided && or ||.
type parser struct {
	e     *evaluator
	pos   int
	end   int
	depth int
	dry   int
}

func (p *parser) parse() (value, error) {
	v, err := p.ternary()
	if err != nil {
		return value{}, err
	}
	p.skip()
	if p.pos != p.end {
		return value{}, p.syntax()
	}
	return v, nil
}

func (p *parser) syntax() error {
	line, col := p.e.lineCol(p.pos)
	return formulaErr(errwire.CodeAutoScalingFormulaSyntaxError, fmt.Sprintf("Line %d, Col %d: unexpected input in '%s'.", line, col, trunc(strings.TrimSpace(p.e.src[:p.end][max(0, p.pos-20):]))))
}

func (p *parser) skip() {
	for p.pos < p.end && strings.IndexByte(" \t\r\n", p.e.src[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *parser) eat(tok string) bool {
	p.skip()
	if strings.HasPrefix(p.e.src[p.pos:p.end], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

// cond reads a value as a truth value (nonzero is true).
func (p *parser) cond(v value) (bool, error) {
	if p.dry > 0 {
		return false, nil
	}
	f, err := v.asDouble("A condition")
	return f != 0, err
}

func (p *parser) ternary() (value, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 100 {
		return value{}, formulaErr(errwire.CodeAutoScalingFormulaSyntaxError, "The formula nests too deeply.")
	}
	c, err := p.or()
	if err != nil || !p.eat("?") {
		return c, err
	}
	t, err := p.cond(c)
	if err != nil {
		return value{}, err
	}
	branch := func(taken bool) (value, error) {
		if !taken {
			p.dry++
			defer func() { p.dry-- }()
		}
		return p.ternary()
	}
	a, err := branch(t || p.dry > 0)
	if err != nil {
		return value{}, err
	}
	if !p.eat(":") {
		return value{}, p.syntax()
	}
	b, err := branch(!t || p.dry > 0)
	if err != nil || t {
		return a, err
	}
	return b, nil
}

// logic parses a chain of && or || with short-circuit evaluation.
func (p *parser) logic(op string, next func() (value, error)) (value, error) {
	l, err := next()
	for err == nil && p.eat(op) {
		var lt bool
		if lt, err = p.cond(l); err != nil {
			break
		}
		decided := (op == "||") == lt
		if decided {
			p.dry++
		}
		r, rerr := next()
		if decided {
			p.dry--
		}
		if rerr != nil {
			return value{}, rerr
		}
		rt := decided && lt
		if !decided {
			if rt, err = p.cond(r); err != nil {
				break
			}
		}
		l = dbl(b2f(rt))
	}
	return l, err
}

func (p *parser) or() (value, error) { return p.logic("||", p.and) }

func (p *parser) and() (value, error) { return p.logic("&&", p.cmp) }

func (p *parser) cmp() (value, error) {
	l, err := p.sum()
	if err != nil {
		return value{}, err
	}
	for _, op := range []string{"<=", ">=", "==", "!=", "<", ">"} {
		if p.eat(op) {
			r, err := p.sum()
			if err != nil || p.dry > 0 {
				return dbl(0), err
			}
			return compare(op, l, r)
		}
	}
	return l, nil
}

func (p *parser) binary(ops string, next func() (value, error)) (value, error) {
	l, err := next()
	for err == nil {
		p.skip()
		if p.pos >= p.end || strings.IndexByte(ops, p.e.src[p.pos]) < 0 {
			return l, nil
		}
		op := p.e.src[p.pos]
		p.pos++
		var r value
		if r, err = next(); err == nil {
			if p.dry > 0 {
				l = dbl(0)
				continue
			}
			l, err = arith(op, l, r)
		}
	}
	return value{}, err
}

func (p *parser) sum() (value, error) { return p.binary("+-", p.product) }

func (p *parser) product() (value, error) { return p.binary("*/", p.unary) }

func (p *parser) unary() (value, error) {
	switch {
	case p.eat("-"):
		v, err := p.unary()
		if err != nil || p.dry > 0 {
			return dbl(0), err
		}
		switch v.k {
		case kInterval:
			return value{k: kInterval, f: -v.f}, nil
		case kVec:
			return arith('*', v, dbl(-1))
		}
		f, err := v.asDouble("'-'")
		return dbl(-f), err
	case p.eat("!"):
		v, err := p.unary()
		if err != nil || p.dry > 0 {
			return dbl(0), err
		}
		f, err := v.asDouble("'!'")
		return dbl(b2f(f == 0)), err
	}
	return p.postfix()
}

func (p *parser) ident() string {
	p.skip()
	start := p.pos
	for p.pos < p.end {
		c := rune(p.e.src[p.pos])
		if !(c == '_' || unicode.IsLetter(c) || (p.pos > start && unicode.IsDigit(c)) || (p.pos == start && c == '$')) {
			break
		}
		p.pos++
	}
	return p.e.src[start:p.pos]
}

// postfix parses a primary followed by .member and .Method(...) accesses.
func (p *parser) postfix() (value, error) {
	v, err := p.primary()
	for err == nil && p.eat(".") {
		at := p.pos
		name := p.ident()
		if name == "" {
			return value{}, p.syntax()
		}
		if !p.eat("(") {
			if p.dry == 0 {
				v, err = member(v, name)
			}
			continue
		}
		var args []value
		if args, err = p.args(); err != nil || p.dry > 0 {
			v = dbl(0)
			continue
		}
		if v.series == "" {
			return value{}, evalErr("A %s has no method '%s'.", v.k, trunc(name))
		}
		var s *series
		if s, err = p.e.series(v.series); err == nil {
			v, err = p.e.method(s, name, args, at)
		}
	}
	return v, err
}

// args parses a call's arguments after "(".
func (p *parser) args() ([]value, error) {
	var args []value
	if p.eat(")") {
		return nil, nil
	}
	for {
		v, err := p.ternary()
		if err != nil {
			return nil, err
		}
		args = append(args, v)
		if p.eat(")") {
			return args, nil
		}
		if !p.eat(",") {
			return nil, p.syntax()
		}
	}
}

func (p *parser) primary() (value, error) {
	p.skip()
	if p.eat("(") {
		v, err := p.ternary()
		if err != nil {
			return value{}, err
		}
		if !p.eat(")") {
			return value{}, p.syntax()
		}
		return v, nil
	}
	if p.eat(`"`) {
		end := strings.IndexByte(p.e.src[p.pos:p.end], '"')
		if end < 0 {
			return value{}, p.syntax()
		}
		s := p.e.src[p.pos : p.pos+end]
		p.pos += end + 1
		return value{k: kString, s: s}, nil
	}
	start := p.pos
	for p.pos < p.end && (p.e.src[p.pos] >= '0' && p.e.src[p.pos] <= '9' || p.e.src[p.pos] == '.') {
		p.pos++
	}
	if p.pos > start {
		f, ok := parseNumber(p.e.src[start:p.pos])
		if !ok {
			return value{}, p.syntax()
		}
		return dbl(f), nil
	}
	at := p.pos
	name := p.ident()
	if name == "" {
		return value{}, p.syntax()
	}
	if p.eat("(") {
		args, err := p.args()
		if err != nil || p.dry > 0 {
			return dbl(0), err
		}
		return p.e.call(name, args, at)
	}
	if p.dry > 0 {
		return dbl(0), nil
	}
	return p.e.lookup(name)
}
