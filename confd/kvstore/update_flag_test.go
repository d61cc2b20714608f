package kvstore

import "flag"

// update is accepted so that `go test ./confd/... -update` (which rewrites the golden files of confd/calico)
// also runs here; this package has no golden files.
var _ = flag.Bool("update", false, "rewrite golden files (none in this package)")
