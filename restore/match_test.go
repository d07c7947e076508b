package restore

import "testing"

func TestSelector(t *testing.T) {
	cases := []struct {
		sel           Selector
		path          string
		incl, exclude bool
	}{
		{Selector{}, "/a/b", true, false},
		{Selector{Include: []string{"*.txt"}}, "/a/b.txt", true, false},
		{Selector{Include: []string{"*.txt"}}, "/a/b.go", false, false},
		{Selector{Include: []string{"/a/*"}}, "/a/b.go", true, false},
		{Selector{Include: []string{"a/*"}}, "/a/b.go", true, false},
		{Selector{Include: []string{"/a/*"}}, "/x/a/b.go", false, false},
		{Selector{Include: []string{"/docs/"}}, "/docs", true, false},
		{Selector{Exclude: []string{"*.log"}}, "/var/x.log", true, true},
		{Selector{Exclude: []string{"/cache"}}, "/cache", true, true},
		{Selector{Exclude: []string{"/cache"}}, "/a/cache", true, false},
	}
	for _, c := range cases {
		if got := c.sel.Included(c.path); got != c.incl {
			t.Errorf("%+v Included(%s) = %v", c.sel, c.path, got)
		}
		if got := c.sel.Excluded(c.path); got != c.exclude {
			t.Errorf("%+v Excluded(%s) = %v", c.sel, c.path, got)
		}
	}
	if err := (Selector{Include: []string{"[x"}}).Validate(); err == nil {
		t.Fatal("bad pattern accepted")
	}
}
