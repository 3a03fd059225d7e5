package cobalt

import (
	"errors"
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want Duration
		out  string
	}{
		{"PT15M", Duration(15 * time.Minute), "PT15M"},
		{"P1D", Duration(24 * time.Hour), "P1D"},
		{"P1DT2H3M4.5S", Duration(26*time.Hour + 3*time.Minute + 4500*time.Millisecond), "P1DT2H3M4.5S"},
		{"PT90S", Duration(90 * time.Second), "PT1M30S"},
		{"PT0S", 0, "PT0S"},
		{"P1W", Duration(7 * 24 * time.Hour), "P7D"},
		{"-PT1S", Duration(-time.Second), "-PT1S"},
		{UnlimitedText, Unlimited, UnlimitedText},
	} {
		d, err := ParseDuration(c.in)
		if err != nil || d != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", c.in, time.Duration(d), err, time.Duration(c.want))
		}
		if got := d.String(); got != c.out {
			t.Errorf("%q formats as %q, want %q", c.in, got, c.out)
		}
	}
	for _, bad := range []string{"", "P", "PT", "15M", "1H", "P1M", "P1Y", "PT1D", "P1H", "PTxS", "P1DT",
		"PT1.5H", "P-1D", "P99999999999999999999D", "--PT1S"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
	if _, err := ParseDuration("P99999999999999999999D"); !errors.Is(err, ErrDurationTooLarge) {
		t.Errorf("a too long duration: %v, want ErrDurationTooLarge", err)
	}
	if _, err := ParseDuration("P1Y"); errors.Is(err, ErrDurationTooLarge) {
		t.Error("a malformed duration reported as too large")
	}
	if !Unlimited.IsUnlimited() || Duration(time.Hour).IsUnlimited() {
		t.Error("IsUnlimited")
	}
}

func TestDurationText(t *testing.T) {
	t.Parallel()
	var d Duration
	if err := d.UnmarshalText([]byte("PT1H")); err != nil || d != Duration(time.Hour) {
		t.Fatalf("UnmarshalText: %v %v", d, err)
	}
	if b, _ := d.MarshalText(); string(b) != "PT1H" {
		t.Fatalf("MarshalText: %s", b)
	}
	if err := d.UnmarshalText([]byte("P1Y")); err == nil {
		t.Fatal("P1Y accepted")
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT15M", "P1DT2H", UnlimitedText, "-PT1S", "P1.5D", "PT0.5S", "P1W", "P1Y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil || d.IsUnlimited() {
			return
		}
		back, err := ParseDuration(d.String())
		if diff := back - d; err != nil || diff > Duration(time.Microsecond) || diff < -Duration(time.Microsecond) {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, time.Duration(d), d.String(), time.Duration(back), err)
		}
	})
}
