package clustersim

import (
	"testing"
	"time"
)

func TestModel(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Costs
		want FanOut
	}{
		{
			name: "each crossover is where etcd's share, spread over its cores, reaches a node's own",
			c: Costs{Nodes: 100, EtcdCores: 2,
				EtcdCPUPerWrite: 21 * time.Millisecond, FloorEtcdCPUPerWrite: time.Millisecond, // 200µs per node
				NodeCPUPerWrite: 3 * time.Millisecond,                                          // 2 cores × 3ms / 200µs = 30 nodes
				EtcdCPUPerSync:  20 * time.Millisecond, NodeCPUPerSync: 500 * time.Millisecond, // 2 × 500 / 20 = 50
				EtcdRSSIdle: 40 << 20, EtcdRSSPerNode: 512 << 10}, // 40 MB / 0.5 MB = 80
			want: FanOut{EtcdCPUPerWatcherWrite: 200 * time.Microsecond, WriteNodes: 30, SyncNodes: 50, MemoryNodes: 80},
		},
		{
			name: "a crossover between two node counts rounds up",
			c: Costs{Nodes: 10, EtcdCores: 1, EtcdCPUPerWrite: 3 * time.Millisecond, NodeCPUPerWrite: time.Millisecond,
				EtcdCPUPerSync: 3 * time.Millisecond, NodeCPUPerSync: 10 * time.Millisecond},
			want: FanOut{EtcdCPUPerWatcherWrite: 300 * time.Microsecond, WriteNodes: 4, SyncNodes: 4},
		},
		{
			name: "no per-node cost in etcd means no crossover, and noise below the floor counts as none",
			c: Costs{Nodes: 10, EtcdCores: 2, EtcdCPUPerWrite: time.Millisecond, FloorEtcdCPUPerWrite: 2 * time.Millisecond,
				NodeCPUPerWrite: time.Millisecond, NodeCPUPerSync: time.Second, EtcdRSSIdle: 1 << 20},
			want: FanOut{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Model(tc.c); got != tc.want {
				t.Fatalf("expected %+v, got %+v", tc.want, got)
			}
		})
	}
}

func TestPaysOffAtIsTheSmallestCrossoverShown(t *testing.T) {
	for _, tc := range []struct {
		f    FanOut
		want int
	}{
		{FanOut{WriteNodes: 30, SyncNodes: 50, MemoryNodes: 80}, 30},
		{FanOut{WriteNodes: 0, SyncNodes: 50, MemoryNodes: 20}, 20},
		{FanOut{}, 0},
	} {
		if got := tc.f.PaysOffAt(); got != tc.want {
			t.Errorf("%+v: expected %d, got %d", tc.f, tc.want, got)
		}
	}
}

func TestExtrapolateScalesMemoryWithDataAndFanOutWithNodes(t *testing.T) {
	c := Costs{Nodes: 50, EtcdCores: 2, FloorEtcdCPUPerWrite: time.Millisecond, NodeCPUPerWrite: 4 * time.Millisecond,
		EtcdCPUPerSync: 20 * time.Millisecond, RawBytes: 2 << 20, NodeHeap: 5 << 20, FloorWrite: 2 * time.Millisecond}
	f := FanOut{EtcdCPUPerWatcherWrite: 200 * time.Microsecond}
	e := Extrapolate(c, f, 1000, 40<<20) // 20 times the data, 20 times the nodes
	want := Estimate{Nodes: 1000, RawBytes: 40 << 20, NodeHeap: 100 << 20, TotalHeap: 1000 * (100 << 20),
		EtcdCPUPerWrite: time.Millisecond + 200*time.Millisecond,
		WriteToAllNodes: 2*time.Millisecond + 100*time.Millisecond + 4*time.Millisecond,
		EtcdCPUResync:   1000 * 400 * time.Millisecond, ResyncBytes: 1000 * (40 << 20)}
	if e != want {
		t.Fatalf("expected\n %+v\ngot\n %+v", want, e)
	}
}
