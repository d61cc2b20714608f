package clustersim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/calico-l3/calico/confd/calico"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/calc"
	"github.com/calico-l3/calico/felix/desired"
)

// FelixPrefixes are the datastore prefixes felix watches: every resource, and every node's block affinities.
// They are felix's own list (felix.watched), which felix does not export.
var FelixPrefixes = []string{datastore.ResourcePrefix, datastore.IPAMPrefix + "host/"}

// Observer is told every desired state a node's felix calculation computes, in the node's own goroutine.
type Observer func(node int, st *desired.State)

// Node is one simulated host: felix's calculation and confd's key view, each with its own etcd connection and
// watches, as the felix and confd processes of a real calico-node have. Felix's loop is the one felix.Run runs
// (every queued event applied, then one State once each watch is in sync) with the dataplane left out: the
// State goes to the Observer instead of the kernel.
type Node struct {
	Index int
	Name  string

	felixDS, confdDS *datastore.Etcd
	source           *calico.Source
	felixSynced      chan struct{} // closed after felix's first in-sync State
	confdErr         chan error
	cancel           context.CancelFunc
	wg               sync.WaitGroup
}

// StartNode connects node i's felix and confd to etcd as cfg says (calico-node's processes use its defaults) and
// starts their watches; they run until Close. log receives confd's messages.
func StartNode(ctx context.Context, cfg datastore.Config, i int, observe Observer, log *slog.Logger) (*Node, error) {
	name := NodeName(i)
	felixDS, err := datastore.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("node %s: felix's datastore connection: %w", name, err)
	}
	confdDS, err := datastore.New(cfg)
	if err != nil {
		felixDS.Close()
		return nil, fmt.Errorf("node %s: confd's datastore connection: %w", name, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	n := &Node{Index: i, Name: name, felixDS: felixDS, confdDS: confdDS, cancel: cancel,
		source:      calico.New(confdDS, calico.Config{NodeName: name, Logger: log}),
		felixSynced: make(chan struct{}), confdErr: make(chan error, 1)}
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		n.runFelix(ctx, observe)
	}()
	go func() {
		defer n.wg.Done()
		if err := n.source.Run(ctx); err != nil {
			n.confdErr <- fmt.Errorf("node %s: confd: %w", name, err)
		}
	}()
	return n, nil
}

// tagged is a watch event and the prefix of the watch that delivered it.
type tagged struct {
	prefix string
	ev     datastore.Event
}

func (n *Node) runFelix(ctx context.Context, observe Observer) {
	events := make(chan tagged, 1024)
	for _, p := range FelixPrefixes {
		go func() {
			for ev := range n.felixDS.Watch(ctx, p, 0) {
				select {
				case events <- tagged{p, ev}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	c := calc.New(n.Name, calc.DefaultConfig())
	synced := false
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-events:
			c.OnEvent(t.prefix, t.ev)
		}
		// Apply what is already queued, so that a burst costs one State, as in felix.
		for more := true; more; {
			select {
			case t := <-events:
				c.OnEvent(t.prefix, t.ev)
			default:
				more = false
			}
		}
		if !c.InSync(FelixPrefixes...) {
			continue
		}
		st := c.State()
		if !synced {
			synced = true
			close(n.felixSynced)
		}
		observe(n.Index, st)
	}
}

// WaitSynced returns once felix has computed its first complete state and confd has built its first key view.
func (n *Node) WaitSynced(ctx context.Context) error {
	select {
	case <-n.felixSynced:
	case err := <-n.confdErr:
		return err
	case <-ctx.Done():
		return fmt.Errorf("node %s: waiting for felix's first state: %w", n.Name, ctx.Err())
	}
	if _, _, err := n.source.Snapshot(ctx); err != nil {
		return fmt.Errorf("node %s: confd: %w", n.Name, err)
	}
	return nil
}

// KeyView is confd's current key view of the node (it blocks until the first one is built).
func (n *Node) KeyView(ctx context.Context) (map[string]string, error) {
	view, _, err := n.source.Snapshot(ctx)
	return view, err
}

// Close stops the node's watches and closes its connections.
func (n *Node) Close() error {
	n.cancel()
	n.wg.Wait()
	return errors.Join(n.felixDS.Close(), n.confdDS.Close())
}
