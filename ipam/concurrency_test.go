package ipam

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ledger is the test's own record of who holds which address. An address is entered when AutoAssign returns it
// and removed just before its holder releases it, so at every moment the ledger holds at least the addresses etcd
// has allocated to someone else: finding an address already in the ledger means two holders at once.
type ledger struct {
	mu     sync.Mutex
	owner  map[netip.Addr]string
	broken []string
}

func (l *ledger) take(handle string, nets []net.IPNet) []netip.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []netip.Addr
	for _, n := range nets {
		a := netip.MustParseAddr(n.IP.String())
		if prev, held := l.owner[a]; held {
			l.broken = append(l.broken, fmt.Sprintf("%s given to %s while %s holds it", a, handle, prev))
		}
		l.owner[a] = handle
		out = append(out, a)
	}
	return out
}

func (l *ledger) give(addrs []netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range addrs {
		delete(l.owner, a)
	}
}

func (l *ledger) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.broken = append(l.broken, fmt.Sprintf(format, args...))
}

// TestConcurrentNodesNeverShareAnAddress runs 8 nodes, each with its own connection and 4 workers, through 500
// random assign/release operations each against one small pool: 256 addresses in 32 blocks of 8, fewer than the
// nodes would like to hold in the first half of the run, so blocks run out, nodes borrow from each other, the pool
// is exhausted now and then, and transactions collide. In the second half the nodes mostly release; half of them
// are not registered, so their blocks are deleted as they empty out.
func TestConcurrentNodesNeverShareAnAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 4000 IPAM operations against etcd")
	}
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 29)
	total := runConcurrentNodes(t, c, 29)
	if total.Borrowed == 0 || total.Conflicts == 0 || total.BlocksDeleted == 0 {
		t.Errorf("the run did not exercise borrowing, conflicts and block deletion (%+v); make it harder", total)
	}
}

// TestConcurrentNodesWithRoomNeverShareAnAddress is the same run in a pool with room (64 blocks of 64): each node
// mostly assigns from its own blocks, from what its allocator has cached, while its 4 workers make that cache
// stale for one another.
func TestConcurrentNodesWithRoomNeverShareAnAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 4000 IPAM operations against etcd")
	}
	c := newCluster(t)
	c.pool("p", "10.0.0.0/20", 26)
	total := runConcurrentNodes(t, c, 26)
	if total.Cached == 0 || total.Conflicts == 0 {
		t.Errorf("the run did not exercise cached operations and conflicts (%+v)", total)
	}
}

// runConcurrentNodes runs the nodes against c's pool (of blocks of blockSize), checks the ledger against etcd and
// that Check notices a block broken by hand, and returns the nodes' summed stats.
func runConcurrentNodes(t *testing.T, c *cluster, blockSize int) Stats {
	const (
		nodes          = 8
		opsPerNode     = 500
		workersPerNode = 4
		maxLivePerNode = 34 // 8 × 34 > 256: a pool of 256 fills up
	)
	registered := map[string]bool{}
	for i := range nodes / 2 {
		c.node(fmt.Sprintf("node%d", i), nil)
		registered[fmt.Sprintf("node%d", i)] = true
	}
	l := &ledger{owner: map[netip.Addr]string{}}
	var exhausted, assigns, releases atomic.Int64
	ipams := make([]*IPAM, nodes)
	type holding struct {
		handle string
		addrs  []netip.Addr
	}
	lives := make([][]holding, nodes)
	start := time.Now()
	var wg sync.WaitGroup
	for n := range nodes {
		host := fmt.Sprintf("node%d", n)
		m := c.ipam()
		ipams[n] = m
		var mu sync.Mutex // guards lives[n]
		var ops atomic.Int64
		for range workersPerNode {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for op := ops.Add(1); op <= opsPerNode; op = ops.Add(1) {
					mu.Lock()
					live := len(lives[n])
					// Fill up in the first half (the pool runs dry), drain in the second (blocks empty out).
					chance := 65
					if op > opsPerNode/2 {
						chance = 35
					}
					assign := live == 0 || (live < maxLivePerNode && rand.IntN(100) < chance)
					var h holding
					if !assign {
						i := rand.IntN(live)
						h = lives[n][i]
						lives[n] = append(lives[n][:i], lives[n][i+1:]...)
					}
					mu.Unlock()

					if assign {
						handle := fmt.Sprintf("%s.%d", host, op)
						v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1 + rand.IntN(2), HandleID: handle, Host: host,
							Attrs: map[string]string{"node": host}})
						if errors.Is(err, ErrExhausted) {
							exhausted.Add(1)
						} else if err != nil {
							l.fail("AutoAssign for %s: %v", handle, err)
							return
						}
						if len(v4) == 0 {
							continue
						}
						assigns.Add(1)
						got := l.take(handle, v4)
						mu.Lock()
						lives[n] = append(lives[n], holding{handle, got})
						mu.Unlock()
						continue
					}

					releases.Add(1)
					l.give(h.addrs)
					if rand.IntN(2) == 0 {
						if err := m.ReleaseByHandle(ctx, h.handle); err != nil {
							l.fail("ReleaseByHandle(%s): %v", h.handle, err)
							return
						}
						continue
					}
					list := make([]net.IP, len(h.addrs))
					for i, a := range h.addrs {
						list[i] = net.IP(a.AsSlice())
					}
					notAssigned, err := m.ReleaseIPs(ctx, list)
					if err != nil || len(notAssigned) != 0 {
						l.fail("ReleaseIPs(%v) of %s: not assigned %v, error %v", h.addrs, h.handle, notAssigned, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	var total Stats
	for _, m := range ipams {
		s := m.Stats()
		total.Conflicts += s.Conflicts
		total.BlocksClaimed += s.BlocksClaimed
		total.Borrowed += s.Borrowed
		total.BlocksDeleted += s.BlocksDeleted
		total.Cached += s.Cached
	}
	t.Logf("%d assignments, %d releases, %d exhausted in %s; %+v", assigns.Load(), releases.Load(), exhausted.Load(),
		time.Since(start).Round(time.Millisecond), total)
	if len(l.broken) > 0 {
		t.Fatalf("%d violations, first ones:\n%s", len(l.broken), strings.Join(l.broken[:min(len(l.broken), 10)], "\n"))
	}

	// What etcd holds is exactly what the ledger says.
	m := ipams[0]
	s, err := m.snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[netip.Addr]string{}
	for _, b := range s.blocks {
		for _, a := range allocated(b) {
			h, _, _ := b.Owner(a)
			stored[a] = h
		}
	}
	for a, h := range l.owner {
		if stored[a] != h {
			t.Errorf("%s: the ledger says %s holds it, etcd says %q", a, h, stored[a])
		}
	}
	if len(stored) != len(l.owner) {
		t.Errorf("etcd holds %d allocations, the ledger %d", len(stored), len(l.owner))
	}
	mustCheck(t, m)

	// Releasing every holding leaves no handle, no allocation, and blocks only for registered hosts.
	for n := range nodes {
		for _, h := range lives[n] {
			if err := ipams[n].ReleaseByHandle(ctx, h.handle); err != nil {
				t.Fatalf("final release of %s: %v", h.handle, err)
			}
		}
	}
	if leaked := c.keys(handleRoot); len(leaked) != 0 {
		t.Errorf("handles leaked: %v", leaked)
	}
	r := mustCheck(t, m)
	if r.Allocations != 0 {
		t.Errorf("%d allocations left after releasing everything", r.Allocations)
	}
	for _, k := range c.keys(BlockPrefix(4)) {
		if host := c.block(k).Host(); !registered[host] {
			t.Errorf("empty block %s is still affine to %q, which has no Node", k, host)
		}
	}

	// Now break a block by hand: Check must notice.
	v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "victim", Host: "node0"})
	if err != nil {
		t.Fatal(err)
	}
	key := BlockKey(blockOf(netip.MustParseAddr(v4[0].IP.String()), blockSize))
	b := c.block(key)
	ord, _ := b.Ordinal(netip.MustParseAddr(v4[0].IP.String()))
	b.Unallocated = append(b.Unallocated, ord) // the address is now also "free"
	c.put(key, mustJSON(t, b))
	c.put(HandleKey("ghost"), fmt.Sprintf(`{"block":{"10.0.0.0/%d":2}}`, blockSize))
	r, err = m.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []ProblemKind{ProblemBlockBookkeeping, ProblemHandleCount} {
		if !r.Has(kind) {
			t.Errorf("Check after corrupting %s missed a %q problem; it found %v", key, kind, r.Problems)
		}
	}
	return total
}
