package ipam

import (
	"fmt"
	"net"
	"testing"

	"github.com/calico-l3/calico/api"
)

// Blocks of an earlier pool's block size only rule out the blocks they overlap: a pool re-created over the same
// range with bigger blocks still hands out the blocks nothing overlaps, even when the old small blocks outnumber
// the free big ones.
func TestBlocksOfAnOldBlockSizeDoNotHideTheFreeBlocksOfTheNewOne(t *testing.T) {
	c := newCluster(t)
	c.pool("small", "10.9.0.0/24", 28)
	m := c.ipam()
	for i := range 4 { // four /28 blocks, all inside 10.9.0.0/26
		if err := m.AssignIP(ctx, net.ParseIP(fmt.Sprintf("10.9.0.%d", 16*i+1)), "old", nil, "n1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ds.Delete(ctx, api.KindOf(&api.IPPool{}), "", "small", ""); err != nil {
		t.Fatal(err)
	}
	c.pool("big", "10.9.0.0/24", 26)
	v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "new", Host: "n2"})
	if err != nil {
		t.Fatalf("expected an address from one of the three /26 blocks no old block overlaps, got %v", err)
	}
	if a := v4[0].IP.To4(); a[3] < 64 {
		t.Errorf("expected an address outside 10.9.0.0/26, got %s", v4[0].IP)
	}
}
