package clustersim

import (
	"fmt"
	"math"
	"time"
)

// Costs are the figures of one simulation run that the fan-out model works from.
type Costs struct {
	// Nodes is how many nodes were simulated; each has one felix watch that sees every policy write.
	Nodes int
	// EtcdCores is how many cores etcd can spread its fan-out over.
	EtcdCores int
	// EtcdCPUPerWrite is etcd's CPU per policy write with every node watching; FloorEtcdCPUPerWrite the same
	// with one plain watcher.
	EtcdCPUPerWrite, FloorEtcdCPUPerWrite time.Duration
	// NodeCPUPerWrite is one node's CPU for that write: receiving, decoding and computing its new state.
	NodeCPUPerWrite time.Duration
	// EtcdCPUPerSync is etcd's CPU to serve one node's initial listings and watches; NodeCPUPerSync the node's
	// own CPU for its initial sync.
	EtcdCPUPerSync, NodeCPUPerSync time.Duration
	// EtcdRSSIdle is etcd's resident memory holding the data with no node watching; EtcdRSSPerNode what each
	// node adds to it.
	EtcdRSSIdle, EtcdRSSPerNode int64
	// RawBytes is the size of the keys and values one node watches; NodeHeap the heap each node holds.
	RawBytes, NodeHeap int64
	// FloorWrite is the time from a policy write until one plain watcher of an idle etcd receives it.
	FloorWrite time.Duration
}

// FanOut says from how many nodes a fan-out cache (one process that watches etcd once and serves many nodes,
// as Calico's Typha does) pays off, by three measures. A count of 0 means the run showed no per-node cost in
// etcd for that measure.
type FanOut struct {
	// EtcdCPUPerWatcherWrite is what each watching node adds to etcd's CPU for one write.
	EtcdCPUPerWatcherWrite time.Duration
	// WriteNodes: from this many nodes etcd spends longer delivering one write to every node (spread over its
	// cores) than a node spends computing it, so that etcd, not the nodes, sets how fast a policy takes effect.
	WriteNodes int
	// SyncNodes: from this many nodes a resync of every node at once (an etcd restart, an upgrade) is bound by
	// etcd's CPU rather than by each node's own work.
	SyncNodes int
	// MemoryNodes: from this many nodes the nodes' watches hold more of etcd's memory than the data does.
	MemoryNodes int
}

// PaysOffAt is the smallest node count of the three measures, 0 when none showed a per-node cost.
func (f FanOut) PaysOffAt() int {
	least := 0
	for _, n := range []int{f.WriteNodes, f.SyncNodes, f.MemoryNodes} {
		if n > 0 && (least == 0 || n < least) {
			least = n
		}
	}
	return least
}

// Model computes the fan-out crossovers from one run's costs. In a real cluster every node computes on its own
// machine, in parallel, while etcd serves every node from its own few cores: the crossovers are where etcd's
// share, which grows with the number of nodes, overtakes a node's.
func Model(c Costs) FanOut {
	var f FanOut
	if c.Nodes > 0 {
		f.EtcdCPUPerWatcherWrite = max(0, c.EtcdCPUPerWrite-c.FloorEtcdCPUPerWrite) / time.Duration(c.Nodes)
	}
	cores := time.Duration(max(1, c.EtcdCores))
	f.WriteNodes = crossover(float64(c.NodeCPUPerWrite*cores), float64(f.EtcdCPUPerWatcherWrite))
	f.SyncNodes = crossover(float64(c.NodeCPUPerSync*cores), float64(c.EtcdCPUPerSync))
	f.MemoryNodes = crossover(float64(c.EtcdRSSIdle), float64(c.EtcdRSSPerNode))
	return f
}

// crossover is the smallest n with n × perNode ≥ budget, or 0 when perNode is not positive.
func crossover(budget, perNode float64) int {
	if perNode <= 0 {
		return 0
	}
	return max(1, int(math.Ceil(budget/perNode)))
}

// Estimate is what the run's costs predict for a cluster of another size: each node's heap and etcd's per-node
// sync cost scale with the data a node watches, etcd's fan-out with the number of nodes.
type Estimate struct {
	Nodes    int
	RawBytes int64 // the data each node watches
	// NodeHeap and TotalHeap are the nodes' memory, one and all.
	NodeHeap, TotalHeap int64
	// EtcdCPUPerWrite is etcd's CPU for one policy write seen by every node.
	EtcdCPUPerWrite time.Duration
	// WriteToAllNodes is how long a policy write takes to reach every node's state when each node computes on
	// its own machine: the floor, etcd's fan-out over its cores, and one node's work.
	WriteToAllNodes time.Duration
	// EtcdCPUResync is etcd's CPU, and ResyncBytes what it sends, when every node resyncs at once.
	EtcdCPUResync time.Duration
	ResyncBytes   int64
}

// Extrapolate scales the run's costs to nodes nodes that each watch rawBytes of data.
func Extrapolate(c Costs, f FanOut, nodes int, rawBytes int64) Estimate {
	scale := 1.0
	if c.RawBytes > 0 {
		scale = float64(rawBytes) / float64(c.RawBytes)
	}
	e := Estimate{Nodes: nodes, RawBytes: rawBytes}
	e.NodeHeap = int64(float64(c.NodeHeap) * scale)
	e.TotalHeap = e.NodeHeap * int64(nodes)
	e.EtcdCPUPerWrite = c.FloorEtcdCPUPerWrite + f.EtcdCPUPerWatcherWrite*time.Duration(nodes)
	e.WriteToAllNodes = c.FloorWrite + f.EtcdCPUPerWatcherWrite*time.Duration(nodes)/time.Duration(max(1, c.EtcdCores)) +
		c.NodeCPUPerWrite
	e.EtcdCPUResync = time.Duration(float64(c.EtcdCPUPerSync)*scale) * time.Duration(nodes)
	e.ResyncBytes = rawBytes * int64(nodes)
	return e
}

// String is the estimate as the benchmark logs it.
func (e Estimate) String() string {
	return fmt.Sprintf("%d nodes watching %.1f MB each: %.1f MB heap per node, %.1f GB for all; etcd %.1f ms CPU "+
		"per policy write, which reaches every node in about %.0f ms when each node has its own CPU; a resync of "+
		"every node costs etcd %.1f s CPU and sends %.1f GB",
		e.Nodes, mb(e.RawBytes), mb(e.NodeHeap), float64(e.TotalHeap)/(1<<30), ms(e.EtcdCPUPerWrite),
		ms(e.WriteToAllNodes), e.EtcdCPUResync.Seconds(), float64(e.ResyncBytes)/(1<<30))
}

func mb(b int64) float64         { return float64(b) / (1 << 20) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
