package batchapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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

// parseWireDuration parses a duration of a job or task request: what
// cobalt.ParseDuration accepts less weeks and negative spans, and a value too
// long to hold (beyond .NET's TimeSpan.MaxValue) means Unlimited.
func parseWireDuration(s string) (cobalt.Duration, error) {
	if strings.ContainsAny(s, "W-") {
		return 0, fmt.Errorf("%q is not an ISO-8601 duration of days, hours, minutes and seconds", s)
	}
	d, err := cobalt.ParseDuration(s)
	if errors.Is(err, cobalt.ErrDurationTooLarge) {
		return cobalt.Unlimited, nil
	}
	return d, err
}
