package batch

import (
	"math"
	"sort"
)

// call evaluates a built-in function of the autoscale language.
func (e *evaluator) call(name string, args []value, _ int) (value, error) {
	fn := lowerASCII(name)
	list := func() ([]float64, error) {
		var out []float64
		for _, a := range args {
			f, err := a.flatten(name)
			if err != nil {
				return nil, err
			}
			out = append(out, f...)
		}
		return out, nil
	}
	one := func() (value, error) {
		if len(args) != 1 {
			return value{}, evalErr("%s() takes 1 argument.", name)
		}
		return args[0], nil
	}
	switch fn {
	case "avg", "len", "max", "min", "norm", "range", "std", "sum":
		xs, err := list()
		if err != nil {
			return value{}, err
		}
		return aggregate(name, fn, xs)
	case "lg", "ln", "log", "floor", "ceil", "round", "abs":
		a, err := one()
		if err != nil {
			return value{}, err
		}
		f := map[string]func(float64) float64{"lg": math.Log2, "ln": math.Log, "log": math.Log10,
			"floor": math.Floor, "ceil": math.Ceil, "round": math.Round, "abs": math.Abs}[fn]
		if a.k == kVec {
			out := make([]float64, len(a.v))
			for i, x := range a.v {
				out[i] = f(x)
			}
			return value{k: kVec, v: out}, nil
		}
		x, err := a.asDouble(name + "()")
		return dbl(f(x)), err
	case "percentile":
		if len(args) != 2 {
			return value{}, evalErr("percentile() takes a doubleVec and a percentile.")
		}
		xs, err := args[0].flatten(name)
		if err != nil {
			return value{}, err
		}
		pc, err := args[1].asDouble("percentile()")
		if err != nil {
			return value{}, err
		}
		if len(xs) == 0 || pc < 0 || pc > 100 || math.IsNaN(pc) {
			return value{}, evalErr("percentile() needs a non-empty vector and a percentile between 0 and 100.")
		}
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		i := int(math.Ceil(pc/100*float64(len(s)))) - 1
		return dbl(s[max(0, min(i, len(s)-1))]), nil
	case "val":
		if len(args) != 2 {
			return value{}, evalErr("val() takes a doubleVec and an index.")
		}
		xs, err := args[0].flatten(name)
		if err != nil {
			return value{}, err
		}
		i, err := args[1].asDouble("val()")
		if err != nil {
			return value{}, err
		}
		if i < 0 || int(i) >= len(xs) || math.IsNaN(i) {
			return value{}, evalErr("val(): the index %g is outside the vector of %d values.", i, len(xs))
		}
		return dbl(xs[int(i)]), nil
	case "rand":
		if len(args) != 0 {
			return value{}, evalErr("rand() takes no argument.")
		}
		return dbl(e.rng.Float64()), nil
	case "stop":
		return value{}, errStop
	case "time":
		if len(args) == 0 {
			return timeValue(e.in.Now), nil
		}
		if len(args) != 1 || args[0].k != kString {
			return value{}, evalErr("time() takes an optional date and time string.")
		}
		t, ok := parseTimeString(args[0].s)
		if !ok {
			return value{}, evalErr("'%s' is not a W3C-DTF or RFC 1123 date and time.", trunc(args[0].s))
		}
		return timeValue(t), nil
	}
	return value{}, evalErr("The function '%s' is not defined.", trunc(name))
}

// aggregate reduces a doubleVecList.
func aggregate(name, fn string, xs []float64) (value, error) {
	switch fn {
	case "len":
		return dbl(float64(len(xs))), nil
	case "sum", "norm":
		t := 0.0
		for _, x := range xs {
			if fn == "norm" {
				x *= x
			}
			t += x
		}
		if fn == "norm" {
			t = math.Sqrt(t)
		}
		return dbl(t), nil
	}
	if len(xs) == 0 {
		return value{}, evalErr("%s() of an empty vector.", name)
	}
	lo, hi, t := xs[0], xs[0], 0.0
	for _, x := range xs {
		lo, hi, t = math.Min(lo, x), math.Max(hi, x), t+x
	}
	mean := t / float64(len(xs))
	switch fn {
	case "avg":
		return dbl(mean), nil
	case "min":
		return dbl(lo), nil
	case "max":
		return dbl(hi), nil
	case "range":
		return dbl(hi - lo), nil
	}
	if len(xs) < 2 {
		return dbl(0), nil
	}
	ss := 0.0
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return dbl(math.Sqrt(ss / float64(len(xs)-1))), nil
}
