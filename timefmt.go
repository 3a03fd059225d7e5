package cobalt

import (
	"errors"
	"strings"
	"time"
)

// The time formats of Azure's wire protocols, in one table.
const (
	// HTTPDateLayout is RFC 1123 in GMT, the format of the Date,
	// Last-Modified, x-ms-date, ocp-date and ocp-creation-time headers (the
	// same as net/http's TimeFormat).
	HTTPDateLayout = "Mon, 02 Jan 2006 15:04:05 GMT"
	// TimeLayout is RFC 3339 in UTC with seven fractional digits, as Batch
	// and ARM write times in bodies and Storage in error messages
	// ("2026-12-05T02:18:34.1234567Z").
	TimeLayout = "2006-01-02T15:04:05.0000000Z"
	// SASTimeLayout is ISO 8601 in UTC to the second, as the SDKs write SAS
	// st/se and user delegation key times ("2026-12-05T02:18:34Z").
	SASTimeLayout = "2006-01-02T15:04:05Z"
	// EntraErrorTimeLayout is the "Timestamp:" line of an Entra (AADSTS)
	// error description and its "timestamp" field ("2026-12-05 02:18:34Z").
	EntraErrorTimeLayout = "2006-01-02 15:04:05Z"
)

// httpDateParseLayouts are the date header forms ParseHTTPDate reads: the
// three of RFC 9110 (IMF-fixdate, RFC 850, asctime), then RFC 1123 with any
// zone name or a numeric zone, because azbatch formats its conditional and
// ocp-date headers with time.RFC1123 in the time's own zone ("... UTC").
var httpDateParseLayouts = []string{HTTPDateLayout, time.RFC850, time.ANSIC, time.RFC1123, time.RFC1123Z}

// sasTimeParseLayouts are the ISO 8601 forms SAS st/se come in: with
// seconds (and fraction), to the minute, or a bare date.
var sasTimeParseLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02"}

// errNotHTTPDate is returned by ParseHTTPDate.
var errNotHTTPDate = errors.New("not an HTTP date")

// FormatHTTPDate formats t for a date header.
func FormatHTTPDate(t time.Time) string { return t.UTC().Format(HTTPDateLayout) }

// ParseHTTPDate parses a date header in any of the forms clients send
// (httpDateParseLayouts); the result keeps the zone the header named.
func ParseHTTPDate(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, layout := range httpDateParseLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			if layout == HTTPDateLayout || layout == time.RFC850 || layout == time.ANSIC {
				t = t.UTC()
			}
			return t, nil
		}
	}
	return time.Time{}, errNotHTTPDate
}

// FormatTime formats t as Batch and ARM write times in bodies (TimeLayout).
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// FormatSASTime formats t as a SAS or user delegation key time (SASTimeLayout).
func FormatSASTime(t time.Time) string { return t.UTC().Format(SASTimeLayout) }

// ParseSASTime parses a SAS st/se value in any of its ISO 8601 forms.
func ParseSASTime(s string) (time.Time, bool) {
	for _, layout := range sasTimeParseLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
