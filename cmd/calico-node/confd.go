package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/calico-l3/calico/confd"
	"github.com/calico-l3/calico/confd/calico"
	"github.com/calico-l3/calico/k8s/kubeclient"
	"github.com/calico-l3/calico/k8s/secrets"
)

// confdOptions are the -confd flags; each defaults to an environment variable, then to the image layout.
type confdOptions struct {
	confDir, destDir   string
	onetime, keepStage bool
}

func confdFlags(fs *flag.FlagSet, getenv func(string) string) *confdOptions {
	o := &confdOptions{}
	fs.StringVar(&o.confDir, "confdir", orDefault(getenv("CALICO_CONFD_DIR"), "/etc/calico/confd"),
		"directory holding conf.d/ and templates/ (env CALICO_CONFD_DIR)")
	fs.StringVar(&o.destDir, "confd-config-dir", getenv("CALICO_CONFD_CONFIG_DIR"),
		"write every rendered file here instead of where conf.d says (env CALICO_CONFD_CONFIG_DIR)")
	fs.BoolVar(&o.onetime, "confd-run-once", false, "render once and exit")
	fs.BoolVar(&o.onetime, "onetime", false, "same as -confd-run-once")
	fs.BoolVar(&o.keepStage, "confd-keep-stage-file", false, "keep the staged files (for debugging)")
	return o
}

func orDefault(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}

// nodeName is NODENAME, else the name startup stored.
func nodeName(getenv func(string) string) (string, error) {
	if n := strings.TrimSpace(getenv("NODENAME")); n != "" {
		return n, nil
	}
	file := orDefault(getenv("CALICO_NODENAME_FILE"), "/var/lib/calico/nodename")
	b, err := os.ReadFile(file)
	if err != nil || strings.TrimSpace(string(b)) == "" {
		return "", fmt.Errorf("no NODENAME and no stored node name in %s: run calico-node -startup first", file)
	}
	return strings.TrimSpace(string(b)), nil
}

// serviceAccountNamespace is where a pod finds its own namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// watchSecrets watches the Secrets of calico-node's namespace (NAMESPACE, else the pod's own, else kube-system)
// for BGP passwords, when there is a Kubernetes API (KUBECONFIG, or running in a pod); nil otherwise, and then
// peers with a password are left out with a warning.
func watchSecrets(ctx context.Context, getenv func(string) string, log *slog.Logger) calico.Secrets {
	kubeconfig := getenv("KUBECONFIG")
	if kubeconfig == "" && getenv("KUBERNETES_SERVICE_HOST") == "" {
		log.Info("No Kubernetes API (KUBECONFIG unset, not in a pod): BGP peers with a password will be left out")
		return nil
	}
	ns := strings.TrimSpace(getenv("NAMESPACE"))
	if ns == "" {
		if b, err := os.ReadFile(serviceAccountNamespace); err == nil {
			ns = strings.TrimSpace(string(b))
		}
	}
	ns = orDefault(ns, "kube-system")
	var kube *kubernetes.Clientset
	cfg, err := kubeclient.Config(kubeconfig, 30*time.Second)
	if err == nil {
		kube, err = kubernetes.NewForConfig(cfg)
	}
	if err == nil {
		var st *secrets.Store
		if st, err = secrets.Watch(ctx, kube, ns, 10*time.Second, log); err == nil {
			return st
		}
	}
	log.Error("Cannot read the Secrets BGP passwords are kept in: BGP peers with a password will be left out", "namespace", ns, "err", err)
	return nil
}

func runConfd(ctx context.Context, stdout io.Writer, getenv func(string) string, o *confdOptions) int {
	log := logger(stdout, getenv("BGP_LOGSEVERITYSCREEN"))
	name, err := nodeName(getenv)
	if err != nil {
		log.Error("confd cannot start: " + err.Error())
		return 1
	}
	ds, err := openDatastore(getenv)
	if err != nil {
		log.Error("confd cannot start: " + err.Error())
		return 1
	}
	defer ds.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src := calico.New(ds, calico.Config{NodeName: name, RouterID: getenv("CALICO_ROUTER_ID"),
		LogLevel: getenv("BGP_LOGSEVERITYSCREEN"), Logger: log, Secrets: watchSecrets(ctx, getenv, log)})
	go func() {
		if err := src.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("confd datastore watch stopped", "err", err)
			cancel()
		}
	}()
	if !o.onetime {
		go watchBIRDInterfaces(ctx, getenv, log)
	}
	log.Info("Starting confd", "node", name, "confdir", o.confDir, "destdir", o.destDir, "onetime", o.onetime)
	eng := confd.New(confd.Config{ConfDir: o.confDir, NodeName: name, DestDir: o.destDir, Onetime: o.onetime,
		KeepStageFile: o.keepStage, Logger: log})
	if err := eng.Run(ctx, src); err != nil {
		log.Error("confd failed", "err", err)
		return 1
	}
	return 0
}
