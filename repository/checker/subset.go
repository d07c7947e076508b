package checker

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSubset reads the share of the packs to read: "10%", "1/5" or "0.1",
// more than 0 and at most all of them.
func ParseSubset(s string) (float64, error) {
	bad := fmt.Errorf("%q: give a percentage like 10%% or a fraction like 1/5", s)
	var v float64
	var err error
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err = strconv.ParseFloat(p, 64)
		v /= 100
	} else if n, d, ok := strings.Cut(s, "/"); ok {
		var nf, df float64
		nf, err = strconv.ParseFloat(n, 64)
		if err == nil {
			df, err = strconv.ParseFloat(d, 64)
		}
		if df == 0 {
			return 0, bad
		}
		v = nf / df
	} else {
		v, err = strconv.ParseFloat(s, 64)
	}
	if err != nil || !(v > 0 && v <= 1) { // NaN too
		return 0, bad
	}
	return v, nil
}
