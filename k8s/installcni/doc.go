// Package installcni owns what Calico's install-cni container does on Kubernetes (`calico-node -install-cni`, a
// long-lived container of the calico-node DaemonSet): it installs the CNI binaries, the rendered CNI network
// config, calico-kubeconfig and the etcd TLS files on the host, and keeps the kubeconfig current as kubelet
// rotates the service account token.
//
// Everything is decided before anything is written (Read, then MakePlan, which is pure, then Apply): a bad
// CNI_NETWORK_CONFIG, a missing API server address or a key without its certificate installs nothing, not even
// the binaries. Every file is written through a temporary file in the same directory and renamed into place.
// Binaries are rewritten only when their content differs; the CNI config is written last, because its
// appearance is what makes the kubelet consider the node's network ready.
//
// # Paths
//
// Two views of the host's directories matter: where they are mounted in this container (the *_MOUNT variables
// and the source dirs, all of which tests point at a temporary directory) and where the host sees them (what
// goes into the CNI config, read by the plugin on the host). CNI_NET_DIR keeps Calico's meaning: the host's
// path.
//
//	CNI_NET_DIR                  /etc/cni/net.d                    the CNI config dir as the host sees it; base of the
//	                                                               host paths of calico-kubeconfig and calico-tls/
//	KUBECONFIG_FILEPATH          $CNI_NET_DIR/calico-kubeconfig    __KUBECONFIG_FILEPATH__
//	CNI_NET_DIR_MOUNT            /host/etc/cni/net.d               the same dir in this container: the config,
//	                                                               calico-kubeconfig and calico-tls/ are written here
//	CNI_BIN_DIR_MOUNT            /host/opt/cni/bin                 the host's CNI bin dir in this container
//	CNI_SECONDARY_BIN_DIR_MOUNT  /host/secondary-bin-dir           also written when it exists and is writable
//	CNI_BIN_SOURCE_DIR           /opt/cni/bin                      the binaries to install (symlinks followed)
//	SERVICE_ACCOUNT_PATH         /var/run/secrets/kubernetes.io/serviceaccount   token (watched) and ca.crt
//	KUBE_CA_FILE                 $SERVICE_ACCOUNT_PATH/ca.crt      the API server's CA for calico-kubeconfig
//	TLS_ASSETS_DIR               /calico-secrets                   the calico-etcd-secrets mount: etcd-key,
//	                                                               etcd-cert, etcd-ca (watched)
//	ETCD_KEY_FILE, ETCD_CERT_FILE, ETCD_CA_CERT_FILE   $TLS_ASSETS_DIR/etcd-{key,cert,ca}   other source files
//	CALICO_NODENAME_FILE         /var/lib/calico/nodename          node name when KUBERNETES_NODE_NAME is unset
//
// # Behaviour
//
//	CNI_NETWORK_CONFIG           (required)       the config template, with placeholders (see Placeholders)
//	CNI_NETWORK_CONFIG_FILE      ""               a file holding the template instead; wins when set (watched)
//	CNI_CONF_NAME                by shape         10-calico.conflist for a list, 10-calico.conf for one plugin
//	CNI_OLD_CONF_NAME            10-calico.conf   removed when it differs from the name written (upgrades)
//	SKIP_CNI_BINARIES            ""               comma-separated binary names not to install
//	UPDATE_CNI_BINARIES          true             false: leave binaries that already exist alone
//	SLEEP                        true             keep running and keep the files current; false: exit after
//	                                              installing
//	KUBERNETES_SERVICE_HOST/PORT (from kubelet)   the API server for calico-kubeconfig (required with a token)
//	KUBERNETES_SERVICE_PROTOCOL  https
//	SKIP_TLS_VERIFY              false            calico-kubeconfig skips verifying the API server
//	KUBERNETES_NODE_NAME         ""               __KUBERNETES_NODE_NAME__ (else the nodename file, else hostname)
//	ETCD_ENDPOINTS               ""               __ETCD_ENDPOINTS__
//	CNI_MTU                      1500             __CNI_MTU__; 0: the plugin takes the MTU felix writes to
//	                                              /var/lib/calico/mtu for the encapsulation (the manifests)
//	LOG_LEVEL                    info             __LOG_LEVEL__
//	DATASTORE_TYPE               etcdv3           __DATASTORE_TYPE__
//
// The etcd placeholders (__ETCD_KEY_FILE__, __ETCD_CERT_FILE__, __ETCD_CA_CERT_FILE__) become the host paths
// under $CNI_NET_DIR/calico-tls/ of the files that exist and are non-empty, else "", as in Calico.
package installcni
