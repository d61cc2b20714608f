package cni

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/skel"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/calico-l3/calico/datastore"
)

// ipamAdd is calico-ipam's ADD: the same assignment as the calico plugin's, returned as addresses only. A
// retried ADD returns the addresses the handle already holds instead of taking more.
func (p *plugin) ipamAdd(ctx context.Context, args *skel.CmdArgs) (*current.Result, error) {
	a, err := p.attachment(args)
	if err != nil {
		return nil, err
	}
	// For a pod, its pool and address annotations apply here too.
	if err := p.lookupPod(ctx, a); err != nil {
		return nil, err
	}
	held, err := p.ipam.IPsByHandle(ctx, a.handle)
	if err != nil && !errors.Is(err, datastore.ErrNotFound) {
		return nil, fmt.Errorf("reading addresses of handle %s: %w", a.handle, err)
	}
	var ips []net.IPNet
	if len(held) > 0 {
		p.log.Info("Calico CNI IPAM handle already holds addresses; returning them", "handle", a.handle)
		for _, ip := range held {
			ips = append(ips, net.IPNet{IP: ip})
		}
		ips = singleAddresses(ips)
	} else if ips, err = p.assign(ctx, a); err != nil {
		return nil, err
	}
	res := &current.Result{CNIVersion: current.ImplementedSpecVersion}
	for _, ip := range ips {
		res.IPs = append(res.IPs, &current.IPConfig{Address: ip})
	}
	return res, nil
}

// ipamCheck verifies that the handle still holds addresses, and those of the previous result if one is given.
func (p *plugin) ipamCheck(ctx context.Context, args *skel.CmdArgs) error {
	handle := HandleID(p.conf.Name, args.ContainerID, args.IfName)
	prev, err := p.conf.prevResult()
	if err != nil {
		return err
	}
	if prev == nil {
		held, err := p.ipam.IPsByHandle(ctx, handle)
		if err != nil {
			return fmt.Errorf("reading addresses of handle %s: %w", handle, err)
		}
		if len(held) == 0 {
			return fmt.Errorf("handle %s holds no addresses", handle)
		}
		return nil
	}
	var ips []net.IPNet
	for _, c := range prev.IPs {
		ips = append(ips, c.Address)
	}
	return p.checkHandle(ctx, handle, ips)
}
