package batchapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
)

// wireDuration is a cobalt.Duration as the data plane's JSON carries it: an
// ISO-8601 string ("PT1H", "P7D"), Unlimited as .NET's TimeSpan.MaxValue.
// Requests may give days, hours, minutes and seconds; weeks, years, months
// and negative spans are refused.
type wireDuration cobalt.Duration

// MarshalText writes the ISO-8601 text.
func (d wireDuration) MarshalText() ([]byte, error) { return cobalt.Duration(d).MarshalText() }

// UnmarshalJSON reads ISO-8601 text.
func (d *wireDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("a duration must be an ISO-8601 string")
	}
	v, err := parseWireDuration(s)
	if err != nil {
		return err
	}
	*d = wireDuration(v)
	return nil
}

// parseWireDuration parses an ISO-8601 duration of days, hours, minutes and
// (fractional) seconds, such as "P1DT2H3M4.5S". Years, months and weeks are
// refused: their length is not fixed. Values too large for a Duration are
// Unlimited.
func parseWireDuration(s string) (cobalt.Duration, error) {
	bad := fmt.Errorf("%q is not an ISO-8601 duration", s)
	if s == cobalt.UnlimitedText {
		return cobalt.Unlimited, nil
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
	if total >= float64(cobalt.Unlimited/100*100) {
		return cobalt.Unlimited, nil
	}
	return cobalt.Duration(total), nil
}
