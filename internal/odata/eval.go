package odata

import "strings"

// Getter returns an entity's value of a field and whether the entity has it.
// A comparison with a field the entity lacks is false for eq, true for ne.
type Getter func(field string) (value string, ok bool)

// Match reports whether the entity whose fields get returns matches f.
// Comparisons are exact; startswith is a byte prefix; a call other than
// startswith is false (callers evaluate their own functions by walking the
// tree). A nil filter matches everything.
func (f *Filter) Match(get Getter) bool {
	if f == nil || f.Root == nil {
		return true
	}
	return eval(f.Root, get, nil) == yes
}

// MayMatch is Match over a partial view of the entity: known reports
// whether this caller has a field's value at all. It is false only when no
// values of the unknown fields could make the entity match, so a service
// may drop what MayMatch rejects and leave the exact answer to a caller that
// knows every field.
func (f *Filter) MayMatch(get Getter, known func(field string) bool) bool {
	if f == nil || f.Root == nil {
		return true
	}
	return eval(f.Root, get, known) != no
}

type tri int

const (
	no tri = iota
	yes
	unknown
)

func boolTri(b bool) tri {
	if b {
		return yes
	}
	return no
}

func eval(e Expr, get Getter, known func(string) bool) tri {
	switch n := e.(type) {
	case *And:
		l := eval(n.L, get, known)
		if l == no {
			return no
		}
		r := eval(n.R, get, known)
		switch {
		case r == no:
			return no
		case l == yes && r == yes:
			return yes
		}
		return unknown
	case *Or:
		l := eval(n.L, get, known)
		if l == yes {
			return yes
		}
		r := eval(n.R, get, known)
		switch {
		case r == yes:
			return yes
		case l == no && r == no:
			return no
		}
		return unknown
	case *Not:
		switch eval(n.X, get, known) {
		case yes:
			return no
		case no:
			return yes
		}
		return unknown
	case *Compare:
		if known != nil && !known(n.Field) {
			return unknown
		}
		v, ok := get(n.Field)
		eq := ok && v == n.Value.Text
		return boolTri(eq == (n.Op == Eq))
	case *Call:
		if n.Name == "startswith" && len(n.Args) == 2 {
			if known != nil && !known(n.Args[0].Field) {
				return unknown
			}
			v, ok := get(n.Args[0].Field)
			return boolTri(ok && strings.HasPrefix(v, n.Args[1].Literal.Text))
		}
		if known != nil {
			return unknown
		}
		return no
	}
	return no
}

// Conjuncts returns the terms of f joined by "and" at the top level (one
// term when there is no "and"; none for a nil filter).
func (f *Filter) Conjuncts() []Expr {
	if f == nil || f.Root == nil {
		return nil
	}
	var out []Expr
	var walk func(Expr)
	walk = func(e Expr) {
		if a, ok := e.(*And); ok {
			walk(a.L)
			walk(a.R)
			return
		}
		out = append(out, e)
	}
	walk(f.Root)
	return out
}

// EqualsAny returns the values v when f is exactly a disjunction of
// "field eq v" comparisons (which a store can select with an IN list), and
// false otherwise.
func (f *Filter) EqualsAny(field string) ([]string, bool) {
	if f == nil || f.Root == nil {
		return nil, false
	}
	var out []string
	var walk func(Expr) bool
	walk = func(e Expr) bool {
		switch n := e.(type) {
		case *Or:
			return walk(n.L) && walk(n.R)
		case *Compare:
			if n.Field == field && n.Op == Eq {
				out = append(out, n.Value.Text)
				return true
			}
		}
		return false
	}
	if !walk(f.Root) {
		return nil, false
	}
	return out, true
}
