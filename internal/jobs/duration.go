package jobs

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time span that travels as an ISO-8601 duration ("PT1H",
// "P7D"). Unlimited is the largest Duration, which Batch writes as .NET's
// TimeSpan.MaxValue, "P10675199DT2H48M5.4775807S".
type Duration time.Duration

// Unlimited is the Duration Batch reports for "no limit".
const Unlimited = Duration(math.MaxInt64)

const unlimitedText = "P10675199DT2H48M5.4775807S"

// IsUnlimited reports whether d means no limit (or is not positive, which
// Batch treats the same way for constraints).
func (d Duration) IsUnlimited() bool { return d <= 0 || d >= Duration(unlimitedSpan) }

// unlimitedSpan is TimeSpan.MaxValue in Go nanoseconds, rounded to 100 ns ticks.
const unlimitedSpan = time.Duration(math.MaxInt64 / 100 * 100)

// String formats d as ISO 8601.
func (d Duration) String() string {
	if d >= Duration(unlimitedSpan) {
		return unlimitedText
	}
	t := max(time.Duration(d), 0)
	var b strings.Builder
	b.WriteString("P")
	days := t / (24 * time.Hour)
	t -= days * 24 * time.Hour
	if days > 0 {
		fmt.Fprintf(&b, "%dD", days)
	}
	if t == 0 {
		if days == 0 {
			return "PT0S"
		}
		return b.String()
	}
	b.WriteString("T")
	h := t / time.Hour
	t -= h * time.Hour
	m := t / time.Minute
	t -= m * time.Minute
	if h > 0 {
		fmt.Fprintf(&b, "%dH", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dM", m)
	}
	if t > 0 {
		s := strconv.FormatFloat(t.Seconds(), 'f', -1, 64)
		fmt.Fprintf(&b, "%sS", s)
	}
	return b.String()
}

// MarshalJSON writes the ISO-8601 text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads ISO-8601 text.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be an ISO-8601 string")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDuration parses an ISO-8601 duration of days, hours, minutes and
// (fractional) seconds, such as "P1DT2H3M4.5S". Years, months and weeks are
// refused: their length is not fixed. Values too large for a Duration are
// Unlimited.
func ParseDuration(s string) (Duration, error) {
	bad := fmt.Errorf("%q is not an ISO-8601 duration", s)
	if s == unlimitedText {
		return Unlimited, nil
	}
	rest, ok := strings.CutPrefix(s, "P")
	if !ok || rest == "" {
		return 0, bad
	}
	var total float64
	inTime := false
	seen := false
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return 0, bad
			}
			inTime = true
			rest = rest[1:]
			if rest == "" {
				return 0, bad
			}
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, bad
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || n < 0 {
			return 0, bad
		}
		var unit float64
		switch u := rest[i]; {
		case !inTime && u == 'D':
			unit = float64(24 * time.Hour)
		case inTime && u == 'H':
			unit = float64(time.Hour)
		case inTime && u == 'M':
			unit = float64(time.Minute)
		case inTime && u == 'S':
			unit = float64(time.Second)
		default:
			return 0, bad
		}
		if rest[i] != 'S' && strings.Contains(rest[:i], ".") {
			return 0, bad
		}
		total += n * unit
		seen = true
		rest = rest[i+1:]
	}
	if !seen {
		return 0, bad
	}
	if total >= float64(unlimitedSpan) {
		return Unlimited, nil
	}
	return Duration(total), nil
}
