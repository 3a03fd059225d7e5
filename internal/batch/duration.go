package batch

import (
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
const Unlimited = cobalt.UnlimitedText

// ParseDuration parses an ISO 8601 duration of the forms Batch uses
// ("PT15M", "P1D", "P1DT2H3M4.5S") with cobalt.ParseDuration, for the pool
// fields this package keeps as time.Duration.
func ParseDuration(s string) (time.Duration, error) {
	d, err := cobalt.ParseDuration(s)
	return time.Duration(d), err
}

// FormatDuration formats d as an ISO 8601 duration ("PT15M", "P1DT2H").
func FormatDuration(d time.Duration) string { return cobalt.Duration(d).String() }
