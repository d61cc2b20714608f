package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/calico-l3/calico/felix/desired"
)

// routeSocket writes felix's routes in batches: many requests in one sendmsg. The kernel handles a request to
// the routing table inside the sendmsg that carries it and queues its ack on the socket before returning, so a
// batch costs one sendmsg and a read of queued acks, where one request at a time costs a round trip each: a
// sleep and a wake-up per route, which on a busy host (cold start at 10,000 workloads, with the kernel busy
// creating their interfaces) takes far longer than the kernel's own work.
type routeSocket struct {
	fd  int
	seq uint32
	buf []byte
}

// routeBatch is how many requests go in one sendmsg. Their acks (one small message each, a few hundred bytes of
// socket memory) must fit in the socket's receive buffer, or the kernel drops acks.
const routeBatch = 128

// routeOp is one request: add, replace or delete a felix route.
type routeOp struct {
	kind  routeOpKind
	route kernelRoute
}

type routeOpKind int

const (
	opAdd routeOpKind = iota
	opReplace
	opDelete
)

// openRouteSocket opens a netlink socket in the calling thread's network namespace.
func openRouteSocket() (*routeSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening a netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding a netlink socket: %w", err)
	}
	// Acks of failed requests carry the kernel's message and not the request (both options are best effort:
	// older kernels ack without them).
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	return &routeSocket{fd: fd, buf: make([]byte, 1<<16)}, nil
}

func (s *routeSocket) close() { unix.Close(s.fd) }

// do sends the requests in batches and returns each one's error (nil when the kernel accepted it). A socket
// error fails the requests not acked yet and is returned too; the socket should then be closed.
func (s *routeSocket) do(ops []routeOp) ([]error, error) {
	errs := make([]error, len(ops))
	for start := 0; start < len(ops); start += routeBatch {
		batch := ops[start:min(start+routeBatch, len(ops))]
		if err := s.doBatch(batch, errs[start:start+len(batch)]); err != nil {
			for i := start; i < len(ops); i++ {
				if errs[i] == nil {
					errs[i] = err
				}
			}
			return errs, err
		}
	}
	return errs, nil
}

func (s *routeSocket) doBatch(ops []routeOp, errs []error) error {
	var msg []byte
	first := s.seq + 1
	for _, op := range ops {
		s.seq++
		msg = append(msg, routeRequest(op, s.seq)...)
	}
	if err := unix.Sendto(s.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sending %d route requests: %w", len(ops), err)
	}
	acked := make([]bool, len(ops))
	for pending := len(ops); pending > 0; {
		n, _, err := unix.Recvfrom(s.fd, s.buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading route acks: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(s.buf[:n])
		if err != nil {
			return fmt.Errorf("reading route acks: %w", err)
		}
		for _, m := range msgs {
			i := int(m.Header.Seq - first)
			if m.Header.Type != unix.NLMSG_ERROR || m.Header.Seq < first || i >= len(ops) || acked[i] {
				continue // not an ack of this batch
			}
			acked[i] = true
			pending--
			errs[i] = ackError(m)
		}
	}
	return nil
}

// ackError is the error an ack reports, with the kernel's extended message when it sent one.
func ackError(m syscall.NetlinkMessage) error {
	if len(m.Data) < 4 {
		return fmt.Errorf("short netlink ack")
	}
	code := int32(binary.NativeEndian.Uint32(m.Data))
	if code == 0 {
		return nil
	}
	err := error(unix.Errno(-code))
	if m.Header.Flags&unix.NLM_F_ACK_TLVS == 0 {
		return err
	}
	// Past the error code: the request's header, and its body too unless the ack was capped.
	off := 4 + unix.SizeofNlMsghdr
	if m.Header.Flags&unix.NLM_F_CAPPED == 0 && len(m.Data) >= 4+4 {
		off = 4 + int(binary.NativeEndian.Uint32(m.Data[4:]))
	}
	for off+4 <= len(m.Data) {
		l, typ := int(binary.NativeEndian.Uint16(m.Data[off:])), binary.NativeEndian.Uint16(m.Data[off+2:])
		if l < 4 || off+l > len(m.Data) {
			break
		}
		if typ == unix.NLMSGERR_ATTR_MSG {
			return fmt.Errorf("%w: %s", err, strings.TrimRight(string(m.Data[off+4:off+l]), "\x00"))
		}
		off += (l + 3) &^ 3
	}
	return err
}

// routeRequest is the netlink request for one operation on a felix route in the main table.
func routeRequest(op routeOp, seq uint32) []byte {
	r := op.route
	typ, flags := uint16(unix.RTM_NEWROUTE), unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE
	switch op.kind {
	case opAdd:
		flags |= unix.NLM_F_EXCL
	case opReplace:
		flags |= unix.NLM_F_REPLACE
	case opDelete:
		typ, flags = unix.RTM_DELROUTE, unix.NLM_F_REQUEST|unix.NLM_F_ACK
	}
	req := &nl.NetlinkRequest{NlMsghdr: unix.NlMsghdr{Type: typ, Flags: uint16(flags), Seq: seq}}
	msg := &nl.RtMsg{RtMsg: unix.RtMsg{
		Family:   unix.AF_INET,
		Dst_len:  uint8(r.Dst.Bits()),
		Table:    unix.RT_TABLE_MAIN,
		Protocol: RouteProtocol,
		Scope:    unix.RT_SCOPE_UNIVERSE,
	}}
	if r.Dst.Addr().Is6() {
		msg.Family = unix.AF_INET6
	}
	switch r.Type {
	case desired.Blackhole:
		msg.Type = unix.RTN_BLACKHOLE
	case desired.Unicast:
		msg.Type = unix.RTN_UNICAST
		if !r.Gateway.IsValid() {
			msg.Scope = unix.RT_SCOPE_LINK
		}
		if r.OnLink {
			msg.Flags = unix.RTNH_F_ONLINK
		}
	} // another type is only ever deleted: destination, table and protocol identify it
	if op.kind == opDelete {
		msg.Scope = unix.RT_SCOPE_NOWHERE // any scope
	}
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.RTA_DST, r.Dst.Addr().AsSlice()))
	if r.Type == desired.Unicast {
		if r.Gateway.IsValid() {
			req.AddData(nl.NewRtAttr(unix.RTA_GATEWAY, r.Gateway.AsSlice()))
		}
		if r.LinkIndex != 0 {
			req.AddData(nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(uint32(r.LinkIndex))))
		}
	}
	return req.Serialize()
}
