// Package ipam hands out workload addresses from IPPools in blocks, keeping its state in etcd under Calico's
// /calico/ipam/v2/ layout so that Calico's own tools read what it writes:
//
//	assignment/ipv4/block/10.0.0.64-26     the block: who holds each of its addresses (Block)
//	host/<node>/ipv4/block/10.0.0.64-26    the node's claim on the block (Affinity, {"state":"confirmed"})
//	handle/<id>                            how many addresses a holder has in each block (Handle)
//	config                                 strict_affinity, auto_allocate_blocks (Config)
//
// A pool serves a request only if its spec.allowedUses holds the request's use (Workload, or Tunnel for a node's
// IPIP or VXLAN address; unset means both); LoadBalancer pools are stored but never used here, as this project has
// no LoadBalancer controller. A pool in assignmentMode Manual is used only when a request names it (the CNI
// config's ipv4_pools, the cni.projectcalico.org/ipv4pools annotation, a given address, the tunnel allocator).
//
// The block math (ordinals, free lists, attributes, bookkeeping checks) and the per-host block order are pure
// (block.go, order.go, pools.go, and the checks in check.go) and tested without etcd.
//
// Everything that writes follows one rule: a change is a single etcd transaction guarded by the mod revision of
// every key it read. An assignment writes the block and the handle's count together; a claim creates the block,
// the host's affinity and the handle together; a release writes the block and the handles together, and deletes
// the block (with the affinity of a host that no longer exists) in the same step when it empties. So a handle
// never counts an address its block does not hold, not even for a moment (Calico writes them one after the other
// and can leak a handle count on a crash in between), and no address is ever handed out twice: whoever loses a
// race re-reads and tries again, up to 100 times with a few milliseconds of jitter, then gives up with
// ErrMaxRetries.
//
// A long-lived allocator (one per node) also remembers what it last read or wrote, each key with its mod
// revision (cache.go): the pools, the IPAM config, the node and its affinities, its blocks and the handles it
// assigned. With that, a node's next assignment from one of its own blocks, and the release of a handle it
// assigned, are each that one transaction with no read before it, guarded on every cached key the decision rests
// on (for an assignment: the config, the node, the pools, the affinity, the block, the handle). Stale data can
// only fail the guard; the operation then reads afresh and goes on as above. A process that makes one request
// and exits (the CNI plugin) makes the same reads and transactions as it would without the cache. Stores that
// cannot say at which revision a commit took effect (the Kubernetes datastore) get no cache.
//
// Because a claim is atomic, affinities are written confirmed straight away; the "pending" state of Calico's
// two-step claim is never written, only understood when found (a pending affinity without its block is taken
// over and confirmed).
package ipam
