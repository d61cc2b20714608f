// Package benchstat holds what the benchmarks share: latencies collected from several goroutines, their
// percentiles, and splitting a number of operations between workers.
package benchstat

import (
	"slices"
	"sync"
	"time"
)

// Split runs f on workers goroutines, sharing n operations between them, and waits for all.
func Split(n, workers int, f func(worker, ops int)) {
	var wg sync.WaitGroup
	for w := range workers {
		ops := n / workers
		if w < n%workers {
			ops++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(w, ops)
		}()
	}
	wg.Wait()
}

// Latencies collects durations from any number of goroutines.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add records one duration.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// All returns a copy of what was recorded.
func (l *Latencies) All() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.d)
}

// Percentile is the p-th percentile (nearest rank, 0 for none); it sorts d.
func Percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, len(d)*p/100)]
}

// Ms is d in milliseconds, as benchmarks report it.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
