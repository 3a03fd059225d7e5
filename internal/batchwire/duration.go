package batchwire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cobaltbatch/cobalt"
)

// Duration is a cobalt.Duration as a job's or task's JSON carries it: an
// ISO-8601 string ("PT1H", "P7D"), Unlimited as .NET's TimeSpan.MaxValue.
// Decoding applies the data plane's rules (see ParseDuration); stored rows
// were written from input that passed them, so they decode under the same
// rules.
type Duration cobalt.Duration

// MarshalText writes the ISO-8601 text.
func (d Duration) MarshalText() ([]byte, error) { return cobalt.Duration(d).MarshalText() }

// UnmarshalJSON reads ISO-8601 text.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("a duration must be an ISO-8601 string")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses a duration of a job or task: days, hours, minutes and
// seconds as cobalt.ParseDuration reads them, less weeks and negative spans;
// a value too long to hold (beyond .NET's TimeSpan.MaxValue) means
// Unlimited.
func ParseDuration(s string) (cobalt.Duration, error) {
	if strings.ContainsAny(s, "W-") {
		return 0, fmt.Errorf("%q is not an ISO-8601 duration of days, hours, minutes and seconds", s)
	}
	d, err := cobalt.ParseDuration(s)
	if errors.Is(err, cobalt.ErrDurationTooLarge) {
		return cobalt.Unlimited, nil
	}
	return d, err
}

// durationPtr converts a domain duration; nil stays nil.
func durationPtr(d *cobalt.Duration) *Duration { return (*Duration)(d) }

// domainDuration converts a duration back; nil stays nil.
func domainDuration(d *Duration) *cobalt.Duration { return (*cobalt.Duration)(d) }
