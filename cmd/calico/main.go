// Command calico is the Calico CNI plugin. Installed (or linked) under the name calico-ipam it is the IPAM
// plugin instead. The work is in package cni.
package main

import (
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/calico-l3/calico/cni"
)

func main() {
	if filepath.Base(os.Args[0]) == "calico-ipam" {
		skel.PluginMainFuncs(skel.CNIFuncs{Add: cni.IPAMAdd, Del: cni.IPAMDel, Check: cni.IPAMCheck},
			cni.SupportedVersions, "Calico CNI IPAM plugin")
		return
	}
	skel.PluginMainFuncs(skel.CNIFuncs{Add: cni.CmdAdd, Del: cni.CmdDel, Check: cni.CmdCheck},
		cni.SupportedVersions, "Calico CNI plugin")
}
