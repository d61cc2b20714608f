package harness

import (
	"testing"
	"time"
)

// WaitUntil polls cond every 200ms until it holds, and returns how long that took; after limit it fails the test
// with what it was waiting for and cond's last explanation.
func WaitUntil(t testing.TB, limit time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < limit {
		var ok bool
		if ok, last = cond(); ok {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting until %s; last seen:\n%s", limit, what, last)
	return 0
}
