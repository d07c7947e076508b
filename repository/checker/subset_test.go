package checker

import "testing"

func TestParseSubset(t *testing.T) {
	good := map[string]float64{"10%": 0.1, "100%": 1, "1/5": 0.2, "0.25": 0.25, "1": 1, "2/4": 0.5}
	for in, want := range good {
		got, err := ParseSubset(in)
		if err != nil || got != want {
			t.Errorf("ParseSubset(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "0%", "-5%", "101%", "2", "1/0", "0/0", "3/2", "nan", "NaN%", "inf", "-inf", "1/inf", "ten%", "10 %", "1/", "/5", "%"} {
		if v, err := ParseSubset(in); err == nil {
			t.Errorf("ParseSubset(%q) accepted: %v", in, v)
		}
	}
}
