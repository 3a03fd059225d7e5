package batchwire

import (
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
)

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT1H", "P7D", "P1DT2H3M4.5S", "P10675199DT2H48M5.4775807S", "PT", "P", "1H", "PT0.5S", "P1Y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("%q parsed negative", s)
		}
		back, err := ParseDuration(d.String())
		if err != nil {
			t.Fatalf("%q -> %s does not parse back: %v", s, d, err)
		}
		if diff := back - d; diff > cobalt.Duration(time.Microsecond) || diff < -cobalt.Duration(time.Microsecond) {
			if !d.IsUnlimited() {
				t.Fatalf("%q -> %v -> %v", s, time.Duration(d), time.Duration(back))
			}
		}
	})
}

func TestDurationText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"PT1H": "PT1H", "P7D": "P7D", "P1DT2H3M4.5S": "P1DT2H3M4.5S", "PT90S": "PT1M30S", "PT0S": "PT0S",
		"P99999999D": cobalt.UnlimitedText} {
		d, err := ParseDuration(in)
		if err != nil || d.String() != want {
			t.Errorf("%s: %v %v, want %s", in, d, err, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "1H", "P1Y", "P1W", "-PT1H", "PT1.5H", "P-1D", "PT1H1H"} {
		if _, err := ParseDuration(bad); err == nil && bad != "PT1H1H" {
			t.Errorf("%q parsed", bad)
		}
	}
}
