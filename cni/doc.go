// Package cni is the calico CNI plugin and its calico-ipam mode: it parses the network config, takes addresses
// from package ipam, wires a veth pair between the host and the pod's network namespace, and records the
// WorkloadEndpoint (and the Profile named after the network) in the datastore. cmd/calico only dispatches to it.
//
// ADD, for container C, interface I on network N, node H:
//   - addresses from IPAM under handle "N.C" (one IPv4 unless assign_ipv4 is "false", one IPv6 if assign_ipv6 is
//     "true"), each as a /32 or /128; the plugin processes of one host take their IPAM transactions in turns
//     under the flock of ipam_lock_file (/var/run/calico/ipam.lock), so that pods started together do not race
//     for the host's block;
//   - a veth pair, both ends with the config's mtu when set and non-zero, else the MTU felix writes for the
//     encapsulation to MTUFile beside the nodename file (/var/lib/calico/mtu; a malformed file fails the ADD
//     before anything is taken), else 1500, as in Calico: host end "cali" + 11 hex digits of sha1("N.C.I"), MAC
//     ee:ee:ee:ee:ee:ee, proxy_arp=1, neigh proxy_delay=0, forwarding=1 (IPv6: proxy_ndp=1, forwarding=1); pod
//     end I with the addresses, a link route to 169.254.1.1, the default route via it and a permanent neighbour
//     entry giving 169.254.1.1 the host end's MAC, so the pod never depends on proxy ARP (which fails on a host
//     without a default route) (IPv6: the default route via the host end's link-local address);
//   - WorkloadEndpoint "H-cni-C-I" ('-' doubled inside each part) in namespace default, and Profile N if missing.
//
// The host's route to the pod (W/32 dev cali…) is not added here: felix installs it for every local endpoint.
// Whatever fails after the addresses are taken, ADD removes the veth and the endpoint and releases the handle
// before it returns. A repeated ADD answers from the stored endpoint. DEL removes the veth, the endpoint and the
// handle's addresses, and succeeds when any of them is already gone.
//
// With "datastore_type": "kubernetes" (Calico's KDD mode; the default is "etcdv3") the datastore is the API
// server kubernetes.kubeconfig names, and WorkloadEndpoints and Profiles are derived from Pods, Namespaces and
// ServiceAccounts there. Every workload must then be a pod (K8S_POD_NAME in CNI_ARGS); ADD writes no endpoint or
// profile, only the pod's podIP/podIPs/containerID annotations, which the endpoint is derived from; a repeated
// ADD answers from the addresses the sandbox's IPAM handle holds; DEL releases the handle and, when the pod's
// containerID annotation still names this sandbox, removes the veth and the podIP/podIPs annotations (see
// kdd.go).
package cni
