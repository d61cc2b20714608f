package kdd

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calico-l3/calico/ipam"
)

// IPAM on the Kubernetes datastore: 8 nodes assign and release concurrently from one pool small enough that
// they claim, fill and borrow blocks; no address is ever held twice, and ipam check is clean afterwards.
func TestIPAMOnCustomResourcesNeverSharesAnAddress(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	p := pool("pool", "10.70.0.0/25")
	p.Spec.BlockSize = 29 // 16 blocks of 8
	if _, err := c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	// Four light nodes end up holding 10 addresses each (two blocks, 6 left free), four heavy ones 20 (their own
	// two blocks, then 4 borrowed from the light nodes' blocks): the pool ends with 8 of 128 free, slack for the
	// extra address every third assignment takes and releases at once.
	const nodes = 8
	hold := func(i int) int { return []int{10, 20}[i%2] }
	for i := range nodes {
		if _, err := kubeClient(t, c).CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node%d", i)}},
			metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu     sync.Mutex
		owner  = map[netip.Addr]string{}
		broken []string
		wg     sync.WaitGroup
		stats  ipam.Stats
	)
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := New(c.cfg, 5*time.Second) // each node its own client and allocator, sharing only the API server
			if err != nil {
				t.Error(err)
				return
			}
			m := ipam.NewWithStore(nc.IPAMStore())
			host := fmt.Sprintf("node%d", i)
			for j := range hold(i) * 3 / 2 {
				handle := fmt.Sprintf("k8s-pod-network.%s-%d", host, j)
				v4, _, err := m.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: handle, Host: host,
					Attrs: map[string]string{"node": host}})
				mu.Lock()
				if err != nil || len(v4) != 1 {
					broken = append(broken, fmt.Sprintf("%s: %v %v", handle, v4, err))
				} else {
					a := netip.MustParseAddr(v4[0].IP.String())
					if prev, held := owner[a]; held {
						broken = append(broken, fmt.Sprintf("%s given to %s while %s holds it", a, handle, prev))
					}
					owner[a] = handle
				}
				mu.Unlock()
				// Every third pod goes again at once.
				if j%3 == 2 && err == nil {
					mu.Lock()
					delete(owner, netip.MustParseAddr(v4[0].IP.String()))
					mu.Unlock()
					if err := m.ReleaseByHandle(ctx, handle); err != nil {
						mu.Lock()
						broken = append(broken, fmt.Sprintf("releasing %s: %v", handle, err))
						mu.Unlock()
					}
				}
			}
			mu.Lock()
			st := m.Stats()
			stats.Borrowed += st.Borrowed
			stats.Conflicts += st.Conflicts
			stats.BlocksClaimed += st.BlocksClaimed
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, b := range broken {
		t.Error(b)
	}
	m := ipam.NewWithStore(c.IPAMStore())
	report, err := m.Check(ctx)
	if err != nil || !report.OK() {
		t.Fatalf("ipam check after the run: %v %v", report.Problems, err)
	}
	if want := 120; report.Allocations != want || len(owner) != want {
		t.Errorf("allocations %d, test's own record %d, want %d", report.Allocations, len(owner), want)
	}
	allocs, err := m.Allocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range allocs {
		if owner[a.Addr] != a.Handle {
			t.Errorf("%s is held by %s in the datastore, by %q in the test's record", a.Addr, a.Handle, owner[a.Addr])
		}
	}
	t.Logf("blocks %d, affinities %d, handles %d, allocations %d; claimed %d, borrowed %d, conflicts retried %d",
		report.Blocks, report.Affinities, report.Handles, report.Allocations, stats.BlocksClaimed, stats.Borrowed, stats.Conflicts)
	if stats.Borrowed == 0 {
		t.Errorf("no node borrowed: the run did not exercise what it is meant to")
	}

	// Everything released: nothing left but the nodes' (empty) blocks and their affinities.
	for _, a := range allocs {
		if err := m.ReleaseByHandle(ctx, a.Handle); err != nil {
			t.Fatal(err)
		}
	}
	report, err = m.Check(ctx)
	if err != nil || !report.OK() || report.Allocations != 0 || report.Handles != 0 {
		t.Fatalf("after releasing everything: %+v %v", report, err)
	}
}
