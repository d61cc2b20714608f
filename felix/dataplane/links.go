package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// linkInfo is what felix needs of one link.
type linkInfo struct {
	index int
}

// linkTable follows the namespace's links so that an apply needs no dump of thousands of interfaces: it
// subscribes to link changes, then dumps once, then applies every change the kernel reports. Changes queued
// before the dump are replayed on top of it in order, which ends in the same state. When the subscription
// fails (a full socket buffer loses events), the table is marked invalid and the next use subscribes and
// dumps again. It also feeds WatchLinks.
type linkTable struct {
	mu       sync.Mutex
	byName   map[string]linkInfo
	valid    bool          // byName is complete: dumped after the running subscription started
	stop     chan struct{} // closing it ends the subscription; nil when none runs
	watchers map[chan string]bool
	prefix   string
}

// links returns the namespace's links by name, dumping them when the table is not known to be complete or
// fresh is set.
func (d *Dataplane) links(fresh bool) (map[string]linkInfo, error) {
	lt := &d.linkTable
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if err := d.subscribeLocked(); err != nil {
		return nil, err
	}
	if !lt.valid || fresh {
		var links map[string]linkInfo
		err := d.inNS(func() error { return retryDump(func() (err error) { links, err = listLinks(); return err }) })
		if err != nil {
			return nil, fmt.Errorf("listing links: %w", err)
		}
		lt.byName = links
		lt.valid = lt.stop != nil
	}
	return maps.Clone(lt.byName), nil
}

// rtextFilterSkipStats asks a link dump to leave out the statistics (Linux 5.10 and later; older kernels ignore
// it), which are most of each link's message.
const rtextFilterSkipStats = 1 << 3

// listLinks dumps the links of the calling thread's namespace by name. It reads only names and indexes: at
// 10,000 workload interfaces, netlink.LinkList's full decoding of every link (and the statistics the kernel sends
// with them) costs several times as much.
func listLinks() (map[string]linkInfo, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(nl.RTEXT_FILTER_VF|rtextFilterSkipStats)))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return nil, err
	}
	links := make(map[string]linkInfo, len(msgs))
	for _, m := range msgs {
		if len(m) < unix.SizeofIfInfomsg {
			return nil, fmt.Errorf("link message of %d bytes", len(m))
		}
		info := nl.DeserializeIfInfomsg(m)
		attrs, err := nl.ParseRouteAttr(m[unix.SizeofIfInfomsg:])
		if err != nil {
			return nil, fmt.Errorf("parsing link %d: %w", info.Index, err)
		}
		for _, a := range attrs {
			if a.Attr.Type == unix.IFLA_IFNAME {
				links[string(bytes.TrimRight(a.Value, "\x00"))] = linkInfo{index: int(info.Index)}
			}
		}
	}
	return links, nil
}

// invalidateLinks makes the next use dump the links again, e.g. after the kernel refused a link index.
func (d *Dataplane) invalidateLinks() {
	d.linkTable.mu.Lock()
	d.linkTable.valid = false
	d.linkTable.mu.Unlock()
}

// noteLink records a link felix just created, so this apply can use it before the kernel's event arrives.
func (d *Dataplane) noteLink(l netlink.Link) {
	d.linkTable.mu.Lock()
	if d.linkTable.byName != nil {
		d.linkTable.byName[l.Attrs().Name] = linkInfo{index: l.Attrs().Index}
	}
	d.linkTable.mu.Unlock()
}

// subscribeLocked starts the link subscription unless it runs. Called with linkTable.mu held.
func (d *Dataplane) subscribeLocked() error {
	lt := &d.linkTable
	if lt.stop != nil {
		return nil
	}
	updates := make(chan netlink.LinkUpdate, 256)
	stop := make(chan struct{})
	opts := netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case <-stop:
			default:
				d.log.Warn("link subscription failed; links will be listed again", "err", err)
			}
		},
	}
	if d.netns != nil {
		opts.Namespace = &d.nsh
	}
	if err := netlink.LinkSubscribeWithOptions(updates, stop, opts); err != nil {
		return fmt.Errorf("subscribing to link updates: %w", err)
	}
	lt.stop, lt.valid = stop, false
	go d.followLinks(updates, stop)
	return nil
}

func (d *Dataplane) followLinks(updates <-chan netlink.LinkUpdate, stop chan struct{}) {
	lt := &d.linkTable
	for u := range updates {
		a := u.Attrs()
		lt.mu.Lock()
		if lt.byName != nil {
			switch u.Header.Type {
			case unix.RTM_NEWLINK:
				for name, l := range lt.byName { // a rename keeps the index
					if l.index == a.Index && name != a.Name {
						delete(lt.byName, name)
					}
				}
				lt.byName[a.Name] = linkInfo{index: a.Index}
			case unix.RTM_DELLINK:
				if l, ok := lt.byName[a.Name]; ok && l.index == a.Index {
					delete(lt.byName, a.Name)
				}
			}
		}
		// A new workload interface, or any change to a device felix owns (also its deletion), asks for an apply.
		ownDevice := a.Name == DefaultTunnelName || a.Name == DefaultVXLANName
		if (u.Header.Type == unix.RTM_NEWLINK && strings.HasPrefix(a.Name, lt.prefix)) || ownDevice {
			for w := range lt.watchers {
				select {
				case w <- a.Name:
				default: // the reader lags; a pending name already means "apply again"
				}
			}
		}
		lt.mu.Unlock()
	}
	// The subscription ended: on Close, or because the kernel dropped events.
	lt.mu.Lock()
	if lt.stop == stop {
		lt.stop, lt.valid = nil, false
	}
	lt.mu.Unlock()
}

// stopLinks ends the subscription and waits for nothing: the follower exits when the socket closes.
func (d *Dataplane) stopLinks() {
	lt := &d.linkTable
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.stop != nil {
		close(lt.stop)
		lt.stop, lt.valid = nil, false
	}
	for w := range lt.watchers {
		delete(lt.watchers, w)
		close(w)
	}
}

// WatchLinks reports the names of workload interfaces (InterfacePrefix…) and of the tunnel device whenever they
// appear or change, so the caller can apply again: routes and sysctls of an interface that did not exist yet
// are written then. The channel is closed when ctx ends or the dataplane is closed. When the reader lags, names
// are dropped; any name means "apply again", so a pending one covers them. If the kernel drops link events (a full
// socket buffer), reports pause until the next Apply or Resync subscribes again and relists the links.
func (d *Dataplane) WatchLinks(ctx context.Context) (<-chan string, error) {
	lt := &d.linkTable
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if err := d.subscribeLocked(); err != nil {
		return nil, err
	}
	if lt.watchers == nil {
		lt.watchers = map[chan string]bool{}
	}
	w := make(chan string, 16)
	lt.watchers[w] = true
	go func() {
		<-ctx.Done()
		lt.mu.Lock()
		defer lt.mu.Unlock()
		if lt.watchers[w] {
			delete(lt.watchers, w)
			close(w)
		}
	}()
	return w, nil
}

// isGone says whether a netlink error means the link no longer exists.
func isGone(err error) bool {
	var notFound netlink.LinkNotFoundError
	return errors.Is(err, unix.ENODEV) || errors.As(err, &notFound)
}
