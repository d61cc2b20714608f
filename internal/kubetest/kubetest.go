// Package kubetest starts a real, private kube-apiserver for a test: built from source by tests/kubebuild/build.sh,
// backed by its own etcd, serving TLS with a certificate the clients verify, enforcing RBAC, and issuing
// ServiceAccount tokens; stopped and removed when the test ends. There is no controller-manager, scheduler or
// kubelet: what those would create (the default ServiceAccounts, kube-root-ca.crt) the test creates itself.
package kubetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/calico-l3/calico/internal/etcdtest"
)

// Options says where the API server listens and what it stores into; the zero value is a loopback server with a
// private etcd.
type Options struct {
	// BindAddress is the address the server listens on and advertises (default 127.0.0.1). Tests whose CNI runs
	// in other network namespaces pass an address of the root namespace that those namespaces can reach; the
	// serving certificate covers it as well as 127.0.0.1.
	BindAddress string
	// EtcdEndpoint is the etcd the server stores into (default: a private one from etcdtest). Objects go under
	// /registry, as in a real cluster, so they do not meet Calico's /calico keys.
	EtcdEndpoint string
	// ExtraArgs are appended to kube-apiserver's flags (for example --watch-cache=false, so that a watch from a
	// compacted revision reaches etcd and fails as a real cluster's does once its cache has moved on).
	ExtraArgs []string
}

// Server is a running test kube-apiserver.
type Server struct {
	URL        string // https://Host:Port
	Host, Port string
	CAFile     string // PEM of the CA that signed the serving certificate: what a pod's ca.crt holds
	Kubeconfig string // an admin kubeconfig (client certificate in group system:masters)
	Config     *rest.Config
	Client     *kubernetes.Clientset // admin
	Dir        string                // certificates, keys, kubeconfigs and kube-apiserver.log

	bin   string
	caPEM []byte
}

const (
	// serviceCIDR is the cluster's Service range; its first address is the `kubernetes` Service, which the
	// serving certificate names as a real cluster's does.
	serviceCIDR     = "10.96.0.0/12"
	kubernetesSvcIP = "10.96.0.1"
	// saIssuer is the issuer of ServiceAccount tokens, and their default audience.
	saIssuer       = "https://kubernetes.default.svc.cluster.local"
	readyTimeout   = 60 * time.Second
	stopGrace      = 5 * time.Second
	kubectlTimeout = 2 * time.Minute
)

// Start runs a kube-apiserver for this test and waits until it is ready, with a `default` ServiceAccount in the
// `default` namespace. It skips under -short, and fails (it does not skip) when the binaries have not been built,
// so a missing build is never mistaken for a pass.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real kube-apiserver; skipped with -short (make unit runs pure logic only)")
	}
	binDir, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	if o.BindAddress == "" {
		o.BindAddress = "127.0.0.1"
	}
	bindIP := net.ParseIP(o.BindAddress)
	if bindIP == nil {
		t.Fatalf("kubetest: BindAddress %q is not an IP address", o.BindAddress)
	}
	if o.EtcdEndpoint == "" {
		o.EtcdEndpoint = etcdtest.StartServer(t).Endpoint
	}
	dir := t.TempDir()
	pki, err := writePKI(dir, bindIP)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	port := strconv.Itoa(freePort(t, o.BindAddress))
	s := &Server{
		URL:        "https://" + net.JoinHostPort(o.BindAddress, port),
		Host:       o.BindAddress,
		Port:       port,
		CAFile:     pki.caFile,
		Kubeconfig: filepath.Join(dir, "admin.kubeconfig"),
		Dir:        dir,
		bin:        binDir,
		caPEM:      pki.caPEM,
	}
	admin := &clientcmdapi.AuthInfo{ClientCertificateData: pki.adminCertPEM, ClientKeyData: pki.adminKeyPEM}
	if err := s.writeKubeconfig(s.Kubeconfig, "admin", admin); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	if s.Config, err = clientcmd.BuildConfigFromFlags("", s.Kubeconfig); err != nil {
		t.Fatalf("kubetest: loading the admin kubeconfig: %v", err)
	}
	if s.Client, err = kubernetes.NewForConfig(s.Config); err != nil {
		t.Fatalf("kubetest: admin client: %v", err)
	}

	args := []string{
		"--bind-address", o.BindAddress,
		"--advertise-address", o.BindAddress,
		"--secure-port", port,
		// The default (lease) reconciler writes the advertise address into the `kubernetes` Endpoints, which may
		// not hold a loopback address; with no kube-proxy nothing would read it.
		"--endpoint-reconciler-type", "none",
		"--etcd-servers", o.EtcdEndpoint,
		"--service-cluster-ip-range", serviceCIDR,
		"--tls-cert-file", pki.servingCertFile,
		"--tls-private-key-file", pki.servingKeyFile,
		"--client-ca-file", pki.caFile,
		"--authorization-mode", "Node,RBAC",
		"--service-account-issuer", saIssuer,
		"--service-account-key-file", pki.saPubFile,
		"--service-account-signing-key-file", pki.saKeyFile,
		// Calico's own pods (calico-node, install-cni) are privileged, as kubeadm clusters allow.
		"--allow-privileged",
	}
	s.run(t, append(args, o.ExtraArgs...))
	s.EnsureServiceAccount(t, metav1.NamespaceDefault, "default")
	return s
}

// run starts kube-apiserver, stops it when the test ends, and waits for /readyz.
func (s *Server) run(t testing.TB, args []string) {
	t.Helper()
	logPath := filepath.Join(s.Dir, "kube-apiserver.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("kubetest: creating the kube-apiserver log: %v", err)
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(filepath.Join(s.bin, "kube-apiserver"), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Die with the test binary even if it is killed before cleanup runs (see etcdtest for why the thread matters).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	if err := etcdtest.StartOnLongLivedThread(cmd); err != nil {
		t.Fatalf("kubetest: starting kube-apiserver: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopGrace):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	ready, err := s.waitReady(exited)
	if err != nil {
		t.Fatalf("kubetest: kube-apiserver at %s: %v after %v; the end of %s:\n%s",
			s.URL, err, time.Since(started).Round(time.Millisecond), logPath, tail(logPath, 40))
	}
	t.Logf("kubetest: kube-apiserver ready at %s in %v", s.URL, ready.Round(time.Millisecond))
}

// waitReady polls /readyz as the admin until it answers 200, the process exits or readyTimeout passes, and
// returns how long it took.
func (s *Server) waitReady(exited <-chan struct{}) (time.Duration, error) {
	tlsConfig, err := rest.TLSConfigFor(s.Config)
	if err != nil {
		return 0, fmt.Errorf("admin TLS config: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}, Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	start := time.Now()
	last := errors.New("no answer yet")
	for time.Since(start) < readyTimeout {
		select {
		case <-exited:
			return 0, errors.New("exited before it was ready")
		default:
		}
		resp, err := client.Get(s.URL + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
			last = fmt.Errorf("/readyz answered %s: %s", resp.Status, lastLines(body, 5))
		} else {
			var certErr *tls.CertificateVerificationError
			if errors.As(err, &certErr) {
				return 0, err // it will not get better by waiting
			}
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0, fmt.Errorf("not ready within %v (last: %v)", readyTimeout, last)
}

// EnsureServiceAccount creates the namespace and the ServiceAccount in it unless they exist: the controller-manager
// that would make each namespace's `default` one does not run here.
func (s *Server) EnsureServiceAccount(t testing.TB, namespace, name string) {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil &&
		!apierrors.IsAlreadyExists(err) {
		t.Fatalf("kubetest: creating namespace %s: %v", namespace, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := s.Client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil &&
		!apierrors.IsAlreadyExists(err) {
		t.Fatalf("kubetest: creating ServiceAccount %s/%s: %v", namespace, name, err)
	}
}

// Token is a bound token for the ServiceAccount from the TokenRequest API, as the kubelet would project into a
// pod. expiry 0 takes the server's default (one hour); the server refuses less than ten minutes.
func (s *Server) Token(t testing.TB, namespace, serviceAccount string, expiry time.Duration) string {
	t.Helper()
	req := &authenticationv1.TokenRequest{}
	if expiry != 0 {
		secs := int64(expiry / time.Second)
		req.Spec.ExpirationSeconds = &secs
	}
	resp, err := s.Client.CoreV1().ServiceAccounts(namespace).CreateToken(context.Background(), serviceAccount, req,
		metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: requesting a token for ServiceAccount %s/%s: %v", namespace, serviceAccount, err)
	}
	return resp.Status.Token
}

// KubeconfigForToken writes a kubeconfig that reaches this server as the bearer of token (the CA embedded, so
// the file can be copied anywhere) and returns its path.
func (s *Server) KubeconfigForToken(t testing.TB, token string) string {
	t.Helper()
	f, err := os.CreateTemp(s.Dir, "token-*.kubeconfig")
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	f.Close()
	if err := s.writeKubeconfig(f.Name(), "token", &clientcmdapi.AuthInfo{Token: token}); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return f.Name()
}

// Kubectl runs kubectl (the one built beside kube-apiserver, else the first on PATH) with the admin kubeconfig
// and returns its combined output.
func (s *Server) Kubectl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	bin := filepath.Join(s.bin, "kubectl")
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("kubectl"); err != nil {
			t.Fatalf("kubetest: no kubectl in %s or on PATH (run tests/kubebuild/build.sh)", s.bin)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", s.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

func (s *Server) writeKubeconfig(path, user string, auth *clientcmdapi.AuthInfo) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: s.URL, CertificateAuthorityData: s.caPEM}
	cfg.AuthInfos[user] = auth
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: user}
	cfg.CurrentContext = "kubetest"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// BinDir is the directory holding kube-apiserver and kubectl: $KUBE_BIN_DIR, else the cache directory
// tests/kubebuild/build.sh builds into. The error says how to build them.
func BinDir() (string, error) {
	dir := os.Getenv("KUBE_BIN_DIR")
	if dir == "" {
		version, err := kubeVersion()
		if err != nil {
			return "", err
		}
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("finding the cache directory for the Kubernetes binaries: %w", err)
			}
			cache = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(cache, "calico-l3", "kube-"+version)
	}
	for _, name := range []string{"kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%s not built in %s: run tests/kubebuild/build.sh (or `make kube`), a one-time "+
				"build of about 15 minutes on 2 cores", name, dir)
		}
	}
	return dir, nil
}

var requireKubernetes = regexp.MustCompile(`(?m)^require k8s\.io/kubernetes (v[^ \n]+)`)

// kubeVersion reads the Kubernetes version from tests/kubebuild/go.mod, as build.sh does: that file is what the
// build pins, so it is the only place the version is written down.
func kubeVersion() (string, error) {
	path, err := kubebuildGoMod()
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the Kubernetes version: %w", err)
	}
	m := requireKubernetes.FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("no `require k8s.io/kubernetes vX.Y.Z` line in %s", path)
	}
	return string(m[1]), nil
}

// kubebuildGoMod finds tests/kubebuild/go.mod above the working directory (a test runs in its package's
// directory), else beside this source file.
func kubebuildGoMod() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			path := filepath.Join(dir, "tests", "kubebuild", "go.mod")
			if _, err := os.Stat(path); err == nil {
				return path, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", errors.New("tests/kubebuild/go.mod not found above the working directory; " +
		"set KUBE_BIN_DIR to the directory holding kube-apiserver and kubectl")
}

// pki is the files and PEM the server and its clients share.
type pki struct {
	caFile, servingCertFile, servingKeyFile, saKeyFile, saPubFile string
	caPEM, adminCertPEM, adminKeyPEM                              []byte
}

// writePKI makes one CA that signs both the serving certificate and the admin's client certificate (as kubeadm's
// cluster CA does), and the RSA key that signs ServiceAccount tokens.
func writePKI(dir string, bindIP net.IP) (*pki, error) {
	p := &pki{
		caFile:          filepath.Join(dir, "ca.crt"),
		servingCertFile: filepath.Join(dir, "apiserver.crt"),
		servingKeyFile:  filepath.Join(dir, "apiserver.key"),
		saKeyFile:       filepath.Join(dir, "sa.key"),
		saPubFile:       filepath.Join(dir, "sa.pub"),
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "kubetest-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("signing the CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parsing the CA certificate: %w", err)
	}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})

	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.ParseIP(kubernetesSvcIP)}
	if !bindIP.Equal(ips[0]) {
		ips = append(ips, bindIP)
	}
	servingCert, servingKey, err := issue(ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		IPAddresses: ips,
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	if p.adminCertPEM, p.adminKeyPEM, err = issue(ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kubetest-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, fmt.Errorf("admin client certificate: %w", err)
	}

	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating the ServiceAccount signing key: %w", err)
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encoding the ServiceAccount public key: %w", err)
	}
	for path, data := range map[string][]byte{
		p.caFile:          p.caPEM,
		p.servingCertFile: servingCert,
		p.servingKeyFile:  servingKey,
		p.saKeyFile: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
			Bytes: x509.MarshalPKCS1PrivateKey(saKey)}),
		p.saPubFile: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub}),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
	}
	// Sanity: the pair the server will load is one it can load, so a mistake here fails here.
	if _, err := tls.X509KeyPair(servingCert, servingKey); err != nil {
		return nil, fmt.Errorf("serving key pair: %w", err)
	}
	return p, nil
}

// issue signs tmpl with the CA for a fresh key and returns certificate and key as PEM.
func issue(ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = ca.NotBefore
	tmpl.NotAfter = ca.NotAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("signing: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never happens on Linux
	}
	return n
}

func freePort(t testing.TB, host string) int {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("kubetest: finding a free port on %s: %v", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// tail is the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", path, err)
	}
	return lastLines(data, n)
}

func lastLines(data []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// InstallCalicoCRDs applies the repository's manifests/crds.yaml with kubectl and waits until every custom
// resource definition is established, as the Kubernetes datastore needs before anything reads or writes it.
func (s *Server) InstallCalicoCRDs(t testing.TB) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	crds := filepath.Join(filepath.Dir(file), "..", "..", "manifests", "crds.yaml")
	if out, err := s.Kubectl(t, "apply", "-f", crds); err != nil {
		t.Fatalf("kubectl apply -f %s: %v\n%s", crds, err, out)
	}
	if out, err := s.Kubectl(t, "wait", "--for", "condition=established", "--timeout=60s", "crd", "--all"); err != nil {
		t.Fatalf("waiting for the CRDs to be established: %v\n%s", err, out)
	}
}
