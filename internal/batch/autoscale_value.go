package batch

import (
	"fmt"
	"math"
	"time"

	"github.com/cobaltbatch/cobalt/internal/errwire"
)

// kind is the type of a formula value, as the autoscale language types them.
type kind uint8

const (
	kDouble   kind = iota
	kVec           // doubleVec
	kInterval      // timeinterval, in seconds
	kTime          // timestamp, in Unix seconds
	kString
	kSeries // a sampled service variable, read through its methods
)

var kindNames = [...]string{"double", "doubleVec", "timeinterval", "timestamp", "string", "sample set"}

func (k kind) String() string { return kindNames[k] }

// value is one formula value. series, when set, names the sampled
// variable the value stands for ($CurrentDedicatedNodes is both a double
// and a sample set).
type value struct {
	k      kind
	f      float64
	v      []float64
	s      string
	series string
}

func dbl(f float64) value { return value{k: kDouble, f: f} }

// asDouble reads v as a double; a one-sample vector counts as its value.
func (v value) asDouble(what string) (float64, error) {
	switch {
	case v.k == kDouble:
		return v.f, nil
	case v.k == kVec && len(v.v) == 1:
		return v.v[0], nil
	case v.k == kSeries:
		return 0, evalErr("The variable '%s' is a sample set: read it with GetSample().", v.series)
	}
	return 0, evalErr("%s needs a double, not a %s.", what, v.k)
}

// flatten turns a doubleVecList argument into its doubles.
func (v value) flatten(fn string) ([]float64, error) {
	switch v.k {
	case kDouble:
		return []float64{v.f}, nil
	case kVec:
		return v.v, nil
	}
	return nil, evalErr("%s() takes doubles and doubleVecs, not a %s.", fn, v.k)
}

func evalErr(format string, args ...any) error {
	return formulaErr(errwire.CodeAutoScalingFormulaEvaluationError, fmt.Sprintf(format, args...))
}

// arith applies + - * / to two values with the language's typing rules.
func arith(op byte, l, r value) (value, error) {
	if l.k == kVec && len(l.v) == 1 && r.k != kVec {
		l = dbl(l.v[0])
	}
	if r.k == kVec && len(r.v) == 1 && l.k != kVec {
		r = dbl(r.v[0])
	}
	num := func(a, b float64) (float64, error) {
		switch op {
		case '+':
			return a + b, nil
		case '-':
			return a - b, nil
		case '*':
			return a * b, nil
		}
		if b == 0 {
			return 0, evalErr("Division by zero.")
		}
		return a / b, nil
	}
	switch {
	case l.k == kDouble && r.k == kDouble:
		f, err := num(l.f, r.f)
		return dbl(f), err
	case l.k == kVec || r.k == kVec:
		return vecArith(l, r, num)
	case op == '*' && l.k == kDouble && r.k == kInterval, op == '*' && l.k == kInterval && r.k == kDouble,
		op == '/' && l.k == kInterval && r.k == kDouble:
		f, err := num(l.f, r.f)
		return value{k: kInterval, f: f}, err
	case (op == '+' || op == '-') && l.k == kInterval && r.k == kInterval:
		f, _ := num(l.f, r.f)
		return value{k: kInterval, f: f}, nil
	case op == '+' && (l.k == kTime && r.k == kInterval || l.k == kInterval && r.k == kTime),
		op == '-' && l.k == kTime && r.k == kInterval:
		f, _ := num(l.f, r.f)
		return value{k: kTime, f: f}, nil
	case op == '-' && l.k == kTime && r.k == kTime:
		return value{k: kInterval, f: l.f - r.f}, nil
	}
	if l.k == kSeries || r.k == kSeries {
		s := l.series
		if r.k == kSeries {
			s = r.series
		}
		return value{}, evalErr("The variable '%s' is a sample set: read it with GetSample().", s)
	}
	return value{}, evalErr("The operator '%c' does not apply to a %s and a %s.", op, l.k, r.k)
}

func vecArith(l, r value, num func(a, b float64) (float64, error)) (value, error) {
	if (l.k != kVec && l.k != kDouble) || (r.k != kVec && r.k != kDouble) {
		return value{}, evalErr("The operator does not apply to a %s and a %s.", l.k, r.k)
	}
	n := len(l.v)
	if l.k != kVec {
		n = len(r.v)
	}
	if l.k == kVec && r.k == kVec && len(l.v) != len(r.v) {
		return value{}, evalErr("The vectors have different lengths (%d and %d).", len(l.v), len(r.v))
	}
	out := make([]float64, n)
	for i := range out {
		a, b := l.f, r.f
		if l.k == kVec {
			a = l.v[i]
		}
		if r.k == kVec {
			b = r.v[i]
		}
		f, err := num(a, b)
		if err != nil {
			return value{}, err
		}
		out[i] = f
	}
	return value{k: kVec, v: out}, nil
}

// compare applies a comparison to two values of one comparable kind.
func compare(op string, l, r value) (value, error) {
	var c int
	switch {
	case l.k == kString && r.k == kString:
		c = cmpOrder(l.s < r.s, l.s > r.s)
	case l.k == r.k && (l.k == kTime || l.k == kInterval):
		c = cmpOrder(l.f < r.f, l.f > r.f)
	default:
		a, err := l.asDouble("A comparison")
		if err != nil {
			return value{}, err
		}
		b, err := r.asDouble("A comparison")
		if err != nil {
			return value{}, err
		}
		if math.IsNaN(a) || math.IsNaN(b) {
			return dbl(b2f(op == "!=")), nil
		}
		c = cmpOrder(a < b, a > b)
	}
	switch op {
	case "<=":
		return dbl(b2f(c <= 0)), nil
	case ">=":
		return dbl(b2f(c >= 0)), nil
	case "==":
		return dbl(b2f(c == 0)), nil
	case "!=":
		return dbl(b2f(c != 0)), nil
	case "<":
		return dbl(b2f(c < 0)), nil
	}
	return dbl(b2f(c > 0)), nil
}

func cmpOrder(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// timeOf converts a timestamp value to a time.
func timeOf(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

func timeValue(t time.Time) value {
	return value{k: kTime, f: float64(t.UnixNano()) / 1e9}
}

// member reads a timestamp's member (year, month, day, weekday, hour, minute, second).
func member(v value, name string) (value, error) {
	if v.k != kTime {
		return value{}, evalErr("A %s has no member '%s'.", v.k, trunc(name))
	}
	t := timeOf(v.f)
	switch lowerASCII(name) {
	case "year":
		return dbl(float64(t.Year())), nil
	case "month":
		return dbl(float64(t.Month())), nil
	case "day":
		return dbl(float64(t.Day())), nil
	case "weekday":
		return dbl(float64(t.Weekday())), nil
	case "hour":
		return dbl(float64(t.Hour())), nil
	case "minute":
		return dbl(float64(t.Minute())), nil
	case "second":
		return dbl(float64(t.Second())), nil
	}
	return value{}, evalErr("A timestamp has no member '%s'.", trunc(name))
}

// format renders a value for autoScaleRun.results.
func (v value) format() string {
	switch v.k {
	case kVec:
		s := "["
		for i, f := range v.v {
			if i > 0 {
				s += ","
			}
			s += fmtNum(f)
		}
		return s + "]"
	case kTime:
		return timeOf(v.f).Format("2006-01-02T15:04:05.000Z")
	case kInterval:
		return FormatDuration(time.Duration(v.f * 1e9))
	case kString:
		return v.s
	case kSeries:
		return v.series
	}
	return fmtNum(v.f)
}

func fmtNum(f float64) string {
	return fmt.Sprintf("%g", f)
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}
