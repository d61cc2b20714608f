package birdrestart

import "testing"

// event is one deleted interface seen while BIRD ran as pid.
type event struct {
	pid  int
	name string
}

func TestTrackerAsksForOneRestartPerProcessOnceItsLimitOfDistinctNamesIsDeleted(t *testing.T) {
	tests := []struct {
		name     string
		limit    int
		events   []event
		restarts []int // the index of each event that asks for a restart
		counts   []int // the count returned for each event
	}{
		{"a limit of 0 never restarts", 0,
			[]event{{10, "cali1"}, {10, "cali2"}, {10, "cali3"}}, nil, []int{0, 0, 0}},
		{"the limit-th distinct name restarts", 3,
			[]event{{10, "cali1"}, {10, "cali2"}, {10, "cali3"}}, []int{2}, []int{1, 2, 3}},
		{"a name deleted again costs BIRD no new entry", 2,
			[]event{{10, "cali1"}, {10, "cali1"}, {10, "cali1"}, {10, "cali2"}}, []int{3}, []int{1, 1, 1, 2}},
		{"deletions past the limit do not ask again for the same process", 2,
			[]event{{10, "a"}, {10, "b"}, {10, "c"}, {10, "d"}}, []int{1}, []int{1, 2, 3, 4}},
		{"a new pid starts the count again", 2,
			[]event{{10, "a"}, {11, "b"}, {11, "c"}, {11, "d"}}, []int{2}, []int{1, 1, 2, 3}},
		{"the restarted process is restarted again after as many deletions", 2,
			[]event{{10, "a"}, {10, "b"}, {11, "a"}, {11, "b"}}, []int{1, 3}, []int{1, 2, 1, 2}},
		{"deletions while BIRD is down are not counted and reset the count", 2,
			[]event{{10, "a"}, {0, "b"}, {10, "c"}, {10, "d"}}, []int{3}, []int{1, 0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := Tracker{Limit: tt.limit}
			var restarts []int
			for i, e := range tt.events {
				restart, n := tr.Deleted(e.pid, e.name)
				if restart {
					restarts = append(restarts, i)
				}
				if n != tt.counts[i] {
					t.Errorf("event %d (%s deleted under pid %d): count %d, want %d", i, e.name, e.pid, n, tt.counts[i])
				}
			}
			if len(restarts) != len(tt.restarts) {
				t.Fatalf("restarts asked at events %v, want %v", restarts, tt.restarts)
			}
			for i := range restarts {
				if restarts[i] != tt.restarts[i] {
					t.Fatalf("restarts asked at events %v, want %v", restarts, tt.restarts)
				}
			}
		})
	}
}

func TestZeroTrackerNeverRestarts(t *testing.T) {
	var tr Tracker
	for i := 0; i < 10; i++ {
		if restart, _ := tr.Deleted(10, "cali"+string(rune('a'+i))); restart {
			t.Fatalf("a zero Tracker asked for a restart at deletion %d", i)
		}
	}
}
