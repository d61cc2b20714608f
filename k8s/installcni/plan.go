package installcni

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Inputs are what install-cni reads from its container before deciding anything (see Read).
type Inputs struct {
	Template string
	// Token is the service account token; HaveToken is false when there is no token file (not in a pod, or
	// automountServiceAccountToken: false).
	Token     string
	HaveToken bool
	CA        []byte // the API server's CA, PEM; nil when the file is absent
	NodeName  string
	// NodeNameSource says where NodeName came from, for the log.
	NodeNameSource string
	// TLS holds the etcd files found, non-empty, by name (etcd-key, etcd-cert, etcd-ca).
	TLS map[string][]byte
	// Binaries and BinDirs are empty when binaries are not being installed (the watch loop).
	Binaries []Binary
	BinDirs  []BinDir
	// Notes are things Read skipped, for the log (e.g. a secondary bin dir that is not writable).
	Notes []string
}

// File is one file to write into the CNI config directory.
type File struct {
	Path string // in this container
	Data []byte
	Mode os.FileMode
	What string // what it is, for the log
}

// Plan is everything one install writes or removes, decided before anything is written.
type Plan struct {
	Copies      []BinaryCopy
	BinaryNotes []BinaryNote
	BinDirs     []string
	// Files are written in order: the etcd TLS files and calico-kubeconfig first, the CNI config last, since
	// its appearance is what tells the kubelet that the network is ready.
	Files []File
	// Remove are stale files: TLS files no longer in the secret, the old config name (CNI_OLD_CONF_NAME).
	Remove   []string
	ConfName string
	Config   NetworkConfig
	Warnings []string
}

// MakePlan renders and checks everything an install writes, from the configuration and what was read. It writes
// nothing; an error here means nothing is installed.
func MakePlan(cfg Config, in Inputs) (Plan, error) {
	var p Plan
	netDir := cfg.NetDirMount
	tlsDir := filepath.Join(netDir, TLSDirName)

	// etcd TLS: the host paths of the files present go into the config, the others become "".
	hostTLS := map[string]string{}
	for _, a := range tlsAssets {
		data, ok := in.TLS[a.name]
		if !ok {
			p.Remove = append(p.Remove, filepath.Join(tlsDir, a.name))
			continue
		}
		mode := os.FileMode(0o644)
		if a.secret {
			mode = 0o600
		}
		p.Files = append(p.Files, File{Path: filepath.Join(tlsDir, a.name), Data: data, Mode: mode, What: "etcd TLS file"})
		hostTLS[a.placeholder] = cfg.HostNetDir + "/" + TLSDirName + "/" + a.name
	}
	_, key := in.TLS["etcd-key"]
	_, cert := in.TLS["etcd-cert"]
	if key != cert {
		return Plan{}, fmt.Errorf("etcd TLS: only one of etcd-key (%s) and etcd-cert (%s) is present and non-empty; a client certificate needs its key",
			cfg.TLSSources["etcd-key"], cfg.TLSSources["etcd-cert"])
	}

	uses := func(names ...string) string {
		for _, n := range names {
			if strings.Contains(in.Template, n) {
				return n
			}
		}
		return ""
	}
	if in.HaveToken || uses("__KUBERNETES_SERVICE_HOST__") != "" {
		if cfg.ServiceHost == "" {
			return Plan{}, errors.New("KUBERNETES_SERVICE_HOST is not set (install-cni needs the API server address to write calico-kubeconfig; Kubernetes sets it in every pod)")
		}
	}
	if in.HaveToken || uses("__KUBERNETES_SERVICE_PORT__") != "" {
		if cfg.ServicePort == "" {
			return Plan{}, errors.New("KUBERNETES_SERVICE_PORT is not set (install-cni needs the API server port to write calico-kubeconfig; Kubernetes sets it in every pod)")
		}
	}
	if in.HaveToken {
		if len(in.CA) == 0 && !cfg.SkipTLSVerify {
			p.Warnings = append(p.Warnings, fmt.Sprintf("no CA at %s: calico-kubeconfig trusts the system's roots for the API server", cfg.KubeCAFile))
		}
		kc, err := Kubeconfig(KubeconfigParams{
			Server:        ServerURL(cfg.ServiceProtocol, cfg.ServiceHost, cfg.ServicePort),
			CAData:        in.CA,
			SkipTLSVerify: cfg.SkipTLSVerify,
			Token:         in.Token,
		})
		if err != nil {
			return Plan{}, err
		}
		p.Files = append(p.Files, File{Path: filepath.Join(netDir, KubeconfigName), Data: kc, Mode: 0o600, What: "kubeconfig"})
	} else if n := uses(tokenPlaceholder, "__KUBECONFIG_FILEPATH__", "__KUBECONFIG_FILENAME__"); n != "" {
		return Plan{}, fmt.Errorf("%s uses %s, but there is no service account token at %s to write calico-kubeconfig from (automountServiceAccountToken false? SERVICE_ACCOUNT_PATH wrong?)",
			cfg.NetworkConfigSource(), n, cfg.TokenFile())
	}

	conf, err := Render(in.Template, Values{
		ServiceHost:    cfg.ServiceHost,
		ServicePort:    cfg.ServicePort,
		Token:          in.Token,
		KubeconfigPath: cfg.KubeconfigPath,
		EtcdEndpoints:  cfg.EtcdEndpoints,
		EtcdKeyFile:    hostTLS["__ETCD_KEY_FILE__"],
		EtcdCertFile:   hostTLS["__ETCD_CERT_FILE__"],
		EtcdCACertFile: hostTLS["__ETCD_CA_CERT_FILE__"],
		MTU:            cfg.MTU,
		NodeName:       in.NodeName,
		LogLevel:       cfg.LogLevel,
		DatastoreType:  cfg.DatastoreType,
	})
	if err != nil {
		return Plan{}, fmt.Errorf("%s: %w", cfg.NetworkConfigSource(), err)
	}
	if uses("__ETCD_ENDPOINTS__") != "" && cfg.EtcdEndpoints == "" {
		return Plan{}, fmt.Errorf("ETCD_ENDPOINTS is not set, and %s uses __ETCD_ENDPOINTS__", cfg.NetworkConfigSource())
	}
	name, wrap, err := ConfFileName(cfg.ConfName, conf.IsList)
	if err != nil {
		return Plan{}, err
	}
	data := conf.Bytes
	if wrap {
		if data, err = wrapInList(data); err != nil {
			return Plan{}, fmt.Errorf("%s: wrapping the single plugin configuration into a list: %w", cfg.NetworkConfigSource(), err)
		}
	}
	mode := os.FileMode(0o644)
	if conf.HasToken {
		mode = 0o600 // the token is a credential
	}
	p.Config, p.ConfName = conf, name
	p.Files = append(p.Files, File{Path: filepath.Join(netDir, name), Data: data, Mode: mode, What: "CNI config"})
	if cfg.OldConfName != "" && cfg.OldConfName != name {
		p.Remove = append(p.Remove, filepath.Join(netDir, cfg.OldConfName))
	}

	p.Copies, p.BinaryNotes = PlanBinaries(in.Binaries, in.BinDirs, cfg.SkipBinaries, cfg.UpdateBinaries)
	for _, d := range in.BinDirs {
		p.BinDirs = append(p.BinDirs, d.Path)
	}
	return p, nil
}

// installsAny says whether any shipped binary is not skipped, that is whether a bin dir is needed at all.
func installsAny(bins []Binary, skip []string) bool {
	for _, b := range bins {
		if !slices.Contains(skip, b.Name) {
			return true
		}
	}
	return false
}
