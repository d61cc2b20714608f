package api

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The interface name checks accept exactly what the regular expressions they replaced did.
func TestInterfaceNameChecksMatchTheirPatterns(t *testing.T) {
	for _, c := range []struct {
		name    string
		check   func(string) bool
		pattern string
	}{
		{"isInterfaceName", isInterfaceName, `^[a-zA-Z0-9_.-]{1,15}$`},
		{"isIgnoredInterface", isIgnoredInterface, `^[a-zA-Z0-9_.*-]{1,15}$`},
		{"isFilterInterface", isFilterInterface, `^[a-zA-Z0-9_.*?-]{1,64}$`},
	} {
		re := regexp.MustCompile(c.pattern)
		inputs := []string{"", "eth0", "cali1234567890a", "cali1234567890ab", "eth*", "eth?", "tunl0", "vxlan.calico",
			"eth 0", "eth0\n", "éth0", strings.Repeat("a", 64), strings.Repeat("a", 65), "a/b", "*", "?"}
		rng := rand.New(rand.NewPCG(1, 2))
		const chars = "aZ09_.-*?/ \x00é"
		for range 2000 {
			var b strings.Builder
			for range rng.IntN(70) {
				b.WriteByte(chars[rng.IntN(len(chars))])
			}
			inputs = append(inputs, b.String())
		}
		for _, in := range inputs {
			if got, want := c.check(in), re.MatchString(in); got != want {
				t.Errorf("%s(%q) = %v, the pattern %s says %v", c.name, in, got, c.pattern, want)
			}
		}
	}
}
