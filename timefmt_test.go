package cobalt

import (
	"net/http"
	"testing"
	"time"
)

func TestHTTPDate(t *testing.T) {
	t.Parallel()
	want := time.Date(2026, 11, 29, 17, 0, 22, 0, time.UTC)
	if got := FormatHTTPDate(want.In(time.FixedZone("X", 3600))); got != "Sun, 29 Nov 2026 17:00:22 GMT" {
		t.Fatalf("FormatHTTPDate = %q", got)
	}
	if HTTPDateLayout != http.TimeFormat {
		t.Fatal("HTTPDateLayout differs from net/http's TimeFormat")
	}
	for _, v := range []string{
		"Sun, 29 Nov 2026 17:00:22 GMT",
		" Sun, 29 Nov 2026 17:00:22 GMT ",
		"Sunday, 29-Nov-26 17:00:22 GMT",
		"Sun Nov 29 17:00:22 2026",
		"Sun, 29 Nov 2026 17:00:22 UTC",
		"Sun, 29 Nov 2026 18:00:22 +0100",
	} {
		got, err := ParseHTTPDate(v)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseHTTPDate(%q) = %v, %v", v, got, err)
		}
	}
	for _, v := range []string{"", "yesterday", "2026-11-29T17:00:22Z", "Sun, 29 Nov 2026"} {
		if _, err := ParseHTTPDate(v); err == nil {
			t.Errorf("ParseHTTPDate(%q) accepted", v)
		}
	}
}

func TestTimeAndSASTime(t *testing.T) {
	t.Parallel()
	tm := time.Date(2026, 12, 5, 2, 18, 34, 123456789, time.FixedZone("X", -7200))
	if got := FormatTime(tm); got != "2026-12-05T04:18:34.1234567Z" {
		t.Errorf("FormatTime = %q", got)
	}
	if got := FormatTime(tm.Truncate(time.Second)); got != "2026-12-05T04:18:34.0000000Z" {
		t.Errorf("FormatTime of whole seconds = %q", got)
	}
	if got := FormatSASTime(tm); got != "2026-12-05T04:18:34Z" {
		t.Errorf("FormatSASTime = %q", got)
	}
	for v, want := range map[string]time.Time{
		"2026-12-05T04:18:34Z":         time.Date(2026, 12, 5, 4, 18, 34, 0, time.UTC),
		"2026-12-05T04:18:34.1234567Z": time.Date(2026, 12, 5, 4, 18, 34, 123456700, time.UTC),
		"2026-12-05T04:18Z":            time.Date(2026, 12, 5, 4, 18, 0, 0, time.UTC),
		"2026-12-05T06:18:34+02:00":    time.Date(2026, 12, 5, 4, 18, 34, 0, time.UTC),
		"2026-12-05":                   time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC),
	} {
		got, ok := ParseSASTime(v)
		if !ok || !got.Equal(want) {
			t.Errorf("ParseSASTime(%q) = %v %v, want %v", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "2026-12-05 04:18:34", "Sun, 29 Nov 2026 17:00:22 GMT", "2026-13-01"} {
		if _, ok := ParseSASTime(v); ok {
			t.Errorf("ParseSASTime(%q) accepted", v)
		}
	}
}

func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{"Sun, 29 Nov 2026 17:00:22 GMT", "Sun Nov 29 17:00:22 2026", "x", "Sun, 29 Nov 2026 17:00:22 +0100"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseHTTPDate(s)
		if err != nil {
			return
		}
		// What parses formats back to a date that parses to the same instant.
		back, err := ParseHTTPDate(FormatHTTPDate(tm))
		if err != nil || !back.Equal(tm.Truncate(time.Second)) {
			t.Fatalf("%q: round trip %v -> %v %v", s, tm, back, err)
		}
	})
}
