package cobalt

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a Batch time span. On the wire it is an ISO 8601 duration
// ("PT15M", "P1DT2H3M4.5S"); Unlimited is Batch's "no limit", which Batch
// writes as .NET's TimeSpan.MaxValue.
type Duration time.Duration

// Unlimited is the Duration Batch reports for "no limit".
const Unlimited = Duration(math.MaxInt64)

// UnlimitedText is how Batch writes Unlimited (.NET TimeSpan.MaxValue).
const UnlimitedText = "P10675199DT2H48M5.4775807S"

// unlimitedSpan is TimeSpan.MaxValue in nanoseconds, rounded down to .NET's
// 100 ns ticks: every Duration from here up means no limit.
const unlimitedSpan = Duration(math.MaxInt64 / 100 * 100)

// IsUnlimited reports whether d means no limit.
func (d Duration) IsUnlimited() bool { return d >= unlimitedSpan }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// errDuration is wrapped by every ParseDuration error.
var errDuration = errors.New("not an ISO 8601 duration")

// ErrDurationTooLarge is wrapped by the ParseDuration error of a well-formed
// duration too long to hold. Where Batch reads such a value as "no limit",
// the caller maps it to Unlimited.
var ErrDurationTooLarge = errors.New("an ISO 8601 duration too long to hold")

// ParseDuration parses an ISO 8601 duration of the forms Batch accepts: weeks,
// days, hours, minutes and seconds, an optional leading "-", and a fraction on
// the seconds only ("PT15M", "P1W", "P1DT2H3M4.5S"). Years and months are
// refused, as their length is not fixed; so is a value too large to hold,
// except Batch's own UnlimitedText, which parses to Unlimited.
func ParseDuration(s string) (Duration, error) {
	if s == UnlimitedText {
		return Unlimited, nil
	}
	// Built only on failure: every task the data plane lists parses some.
	bad := func() error { return fmt.Errorf("%q is %w", s, errDuration) }
	rest, neg := strings.CutPrefix(s, "-")
	rest, ok := strings.CutPrefix(rest, "P")
	if !ok || rest == "" {
		return 0, bad()
	}
	var total float64
	inTime := false
	for rest != "" {
		if rest[0] == 'T' {
			if inTime || len(rest) == 1 {
				return 0, bad()
			}
			inTime, rest = true, rest[1:]
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, bad()
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, bad()
		}
		var unit time.Duration
		switch u := rest[i]; {
		case u == 'W' && !inTime:
			unit = 7 * 24 * time.Hour
		case u == 'D' && !inTime:
			unit = 24 * time.Hour
		case u == 'H' && inTime:
			unit = time.Hour
		case u == 'M' && inTime:
			unit = time.Minute
		case u == 'S' && inTime:
			unit = time.Second
		default:
			return 0, bad()
		}
		if unit != time.Second && strings.Contains(rest[:i], ".") {
			return 0, bad()
		}
		total += n * float64(unit)
		if total >= float64(unlimitedSpan) {
			return 0, fmt.Errorf("%q is %w", s, ErrDurationTooLarge)
		}
		rest = rest[i+1:]
	}
	if neg {
		total = -total
	}
	return Duration(total), nil
}

// String formats d as ISO 8601 the way Batch does ("PT15M", "P1DT2H"), and
// Unlimited as UnlimitedText.
func (d Duration) String() string {
	if d.IsUnlimited() {
		return UnlimitedText
	}
	if d == 0 {
		return "PT0S"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	t := time.Duration(d)
	b.WriteByte('P')
	if days := t / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dD", days)
		t -= days * 24 * time.Hour
	}
	if t == 0 {
		return b.String()
	}
	b.WriteByte('T')
	if h := t / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dH", h)
		t -= h * time.Hour
	}
	if m := t / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dM", m)
		t -= m * time.Minute
	}
	if t > 0 {
		b.WriteString(strconv.FormatFloat(t.Seconds(), 'f', -1, 64) + "S")
	}
	return b.String()
}

// MarshalText writes d as ISO 8601, so that every wire codec carries a
// Duration the same way.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads an ISO 8601 duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
