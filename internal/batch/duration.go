package batch

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
)

// TimeFormat is how Batch writes times: RFC 3339 in UTC with seven fractional digits.
const TimeFormat = cobalt.TimeLayout

// FormatTime formats t as Batch does; the zero time gives "".
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return cobalt.FormatTime(t)
}

// Unlimited is the duration Batch writes for "no limit" (.NET TimeSpan.MaxValue).
const Unlimited = "P10675199DT2H48M5.4775807S"

// ParseDuration parses an ISO 8601 duration of the forms Batch uses
// ("PT15M", "P1D", "P1DT2H3M4.5S"). Years and months are refused.
func ParseDuration(s string) (time.Duration, error) {
	if s == Unlimited {
		return time.Duration(1<<63 - 1), nil
	}
	bad := fmt.Errorf("%q is not an ISO 8601 duration", s)
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return 0, bad
	}
	s = s[1:]
	var d float64
	inTime := false
	for s != "" {
		if s[0] == 'T' {
			if inTime {
				return 0, bad
			}
			inTime, s = true, s[1:]
			if s == "" {
				return 0, bad
			}
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, bad
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, bad
		}
		var unit float64
		switch u := s[i]; {
		case u == 'W' && !inTime:
			unit = float64(7 * 24 * time.Hour)
		case u == 'D' && !inTime:
			unit = float64(24 * time.Hour)
		case u == 'H' && inTime:
			unit = float64(time.Hour)
		case u == 'M' && inTime:
			unit = float64(time.Minute)
		case u == 'S' && inTime:
			unit = float64(time.Second)
		default:
			return 0, bad
		}
		d += n * unit
		if d > float64(1<<62) {
			return 0, bad
		}
		s = s[i+1:]
	}
	if neg {
		d = -d
	}
	return time.Duration(d), nil
}

// FormatDuration formats d as an ISO 8601 duration ("PT15M", "P1DT2H").
func FormatDuration(d time.Duration) string {
	if d == time.Duration(1<<63-1) {
		return Unlimited
	}
	if d == 0 {
		return "PT0S"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	b.WriteByte('P')
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dD", days)
		d -= days * 24 * time.Hour
	}
	if d == 0 {
		return b.String()
	}
	b.WriteByte('T')
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dH", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dM", m)
		d -= m * time.Minute
	}
	if d > 0 {
		b.WriteString(strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "S")
	}
	return b.String()
}
