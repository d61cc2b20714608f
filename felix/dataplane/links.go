package dataplane

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
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
	nameOf   map[int]string // byName inverted, to follow renames
	valid    bool           // byName is complete: dumped after the running subscription started
	stop     chan struct{}  // closing it ends the subscription; nil when none runs
	watchers map[chan string]bool
	prefix   string
	// downed are the indexes of links deleted or set down since the last view: the kernel removed every route
	// through them without a word (it sends no route deletion for them), so felix's memory of its routes must
	// forget those routes. followed says the subscription has run without a gap since the last view, so
	// downed is complete.
	downed   map[int]bool
	followed bool
	// view is the apply's copy of byName, brought up to date by each view from the names changed since the
	// last one (all of them when listed), so that an apply copies only what changed.
	view    map[string]linkInfo
	changed map[string]bool
	listed  bool
}

// setLink and delLink change byName, keeping nameOf and changed. Called with mu held.
func (lt *linkTable) setLink(name string, index int) {
	if old, ok := lt.nameOf[index]; ok && old != name { // a rename keeps the index
		delete(lt.byName, old)
		lt.changed[old] = true
	}
	if prev, ok := lt.byName[name]; ok && prev.index != index {
		delete(lt.nameOf, prev.index)
	}
	lt.byName[name] = linkInfo{index: index}
	lt.nameOf[index] = name
	lt.changed[name] = true
}

func (lt *linkTable) delLink(name string, index int) {
	if l, ok := lt.byName[name]; ok && l.index == index {
		delete(lt.byName, name)
		delete(lt.nameOf, index)
		lt.changed[name] = true
	}
}

// linkView is what one apply knows of the links.
type linkView struct {
	byName map[string]linkInfo // read only, and only until the next view, which updates it in place
	downed map[int]bool        // see linkTable.downed
	// followed says the links were followed without a gap since the last view, so downed is complete. It is
	// false on the first view and after the subscription failed.
	followed bool
}

// links returns the namespace's links by name, dumping them when the table is not known to be complete or
// fresh is set, with the links downed since the last view. Only the apply, which keeps felix's memory of its
// routes, takes views.
func (d *Dataplane) links(fresh bool) (linkView, error) {
	lt := &d.linkTable
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if err := d.listLinksLocked(fresh); err != nil {
		return linkView{}, err
	}
	if lt.view == nil || lt.listed {
		lt.view = maps.Clone(lt.byName)
	} else {
		for name := range lt.changed {
			if l, ok := lt.byName[name]; ok {
				lt.view[name] = l
			} else {
				delete(lt.view, name)
			}
		}
	}
	clear(lt.changed)
	v := linkView{byName: lt.view, downed: lt.downed, followed: lt.followed}
	lt.downed, lt.followed, lt.listed = nil, true, false
	return v, nil
}

// linkNames returns the namespace's links by name, leaving the links downed to the next view.
func (d *Dataplane) linkNames() (map[string]linkInfo, error) {
	lt := &d.linkTable
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if err := d.listLinksLocked(false); err != nil {
		return nil, err
	}
	return maps.Clone(lt.byName), nil
}

// listLinksLocked subscribes to link changes unless subscribed, then dumps the links when the table is not known
// to be complete or fresh is set. Called with linkTable.mu held.
func (d *Dataplane) listLinksLocked(fresh bool) error {
	lt := &d.linkTable
	if err := d.subscribeLocked(); err != nil {
		return err
	}
	if lt.valid && !fresh {
		return nil
	}
	var links map[string]linkInfo
	err := d.inNS(func() error { return retryDump(func() (err error) { links, err = listLinks(); return err }) })
	if err != nil {
		return fmt.Errorf("listing links: %w", err)
	}
	lt.byName, lt.nameOf, lt.changed = links, make(map[int]string, len(links)), map[string]bool{}
	for name, l := range links {
		lt.nameOf[l.index] = name
	}
	lt.valid, lt.listed = lt.stop != nil, true
	return nil
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
		name, err := linkName(m[unix.SizeofIfInfomsg:])
		if err != nil {
			return nil, fmt.Errorf("parsing link %d: %w", info.Index, err)
		}
		links[name] = linkInfo{index: int(info.Index)}
	}
	return links, nil
}

// linkName finds the name among a link message's attributes. It walks them in place: decoding all of them (a
// few dozen per link) for one is most of the cost of listing 20,000 links.
func linkName(attrs []byte) (string, error) {
	for len(attrs) >= unix.SizeofRtAttr {
		l, typ := int(binary.NativeEndian.Uint16(attrs)), binary.NativeEndian.Uint16(attrs[2:])
		if l < unix.SizeofRtAttr || l > len(attrs) {
			return "", fmt.Errorf("attribute of %d bytes in %d", l, len(attrs))
		}
		if typ == unix.IFLA_IFNAME {
			return string(bytes.TrimRight(attrs[unix.SizeofRtAttr:l], "\x00")), nil
		}
		attrs = attrs[min((l+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1), len(attrs)):]
	}
	return "", fmt.Errorf("no name")
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
		d.linkTable.setLink(l.Attrs().Name, l.Attrs().Index)
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
	lt.stop, lt.valid, lt.followed = stop, false, false
	go d.followLinks(updates, stop)
	return nil
}

func (d *Dataplane) followLinks(updates <-chan netlink.LinkUpdate, stop chan struct{}) {
	lt := &d.linkTable
	for u := range updates {
		a := u.Attrs()
		lt.mu.Lock()
		if u.Header.Type == unix.RTM_DELLINK || a.Flags&net.FlagUp == 0 {
			if lt.downed == nil {
				lt.downed = map[int]bool{}
			}
			lt.downed[a.Index] = true
		}
		if lt.byName != nil {
			switch u.Header.Type {
			case unix.RTM_NEWLINK:
				lt.setLink(a.Name, a.Index)
			case unix.RTM_DELLINK:
				lt.delLink(a.Name, a.Index)
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
