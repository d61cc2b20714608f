package datastore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/calico-l3/calico/api"
)

// Client is what the rest of the project needs from the datastore.
type Client interface {
	// Create stores a new resource; ErrAlreadyExists if one of that kind, namespace and name exists.
	Create(ctx context.Context, r api.Resource) (api.Resource, error)
	// Update replaces a resource if its resourceVersion is still current; ErrConflict otherwise.
	Update(ctx context.Context, r api.Resource) (api.Resource, error)
	// Apply creates or replaces a resource whatever its current version.
	Apply(ctx context.Context, r api.Resource) (api.Resource, error)
	Get(ctx context.Context, k *api.Kind, namespace, name string) (api.Resource, error)
	// List returns the resources of a kind (of one namespace, or all when namespace is "") and the store revision.
	List(ctx context.Context, k *api.Kind, namespace string) ([]api.Resource, int64, error)
	// Delete removes a resource; with a non-empty resourceVersion only if it is still current.
	Delete(ctx context.Context, k *api.Kind, namespace, name, resourceVersion string) (api.Resource, error)
	// Watch streams changes under a key prefix after fromRevision (see Event).
	Watch(ctx context.Context, prefix string, fromRevision int64) <-chan Event
}

// Etcd is the etcd v3 implementation of Client.
type Etcd struct {
	cli     *clientv3.Client
	cfg     Config
	timeout time.Duration
}

var _ Client = (*Etcd)(nil)

// New connects to etcd. It does not wait for etcd to answer: the first request does, within RequestTimeout.
func New(cfg Config) (*Etcd, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("no etcd endpoints specified")
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          cfg.DialTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		TLS:                  tlsCfg,
		Username:             cfg.Username,
		Password:             cfg.Password,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to etcd %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	return &Etcd{cli: cli, cfg: cfg, timeout: cfg.RequestTimeout}, nil
}

// NewFromEnv connects using the ETCD_* environment variables.
func NewFromEnv() (*Etcd, error) {
	cfg, err := ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	return New(cfg)
}

// Raw gives packages that need multi-key transactions (ipam) the etcd client itself.
func (e *Etcd) Raw() *clientv3.Client { return e.cli }

// Endpoints returns the configured endpoints, for messages.
func (e *Etcd) Endpoints() []string { return e.cfg.Endpoints }

// Classify turns an error of a request made through Raw into one wrapping ErrUnreachable when etcd did not
// answer, as the Client methods do; other errors are returned unchanged.
func (e *Etcd) Classify(err error) error { return e.wrap(err) }

// RequestTimeout is how long one request may take.
func (e *Etcd) RequestTimeout() time.Duration { return e.timeout }

// Close releases the connection.
func (e *Etcd) Close() error { return e.cli.Close() }

// Ping checks that etcd answers within the request timeout.
func (e *Etcd) Ping(ctx context.Context) error {
	ctx, cancel := e.ctx(ctx)
	defer cancel()
	_, err := e.cli.Get(ctx, "/calico/ping", clientv3.WithCountOnly())
	return e.wrap(err)
}

func (e *Etcd) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.timeout)
}

// wrap turns transport failures into ErrUnreachable with the endpoints and timeout named.
func (e *Etcd) wrap(err error) error {
	if err == nil {
		return nil
	}
	// The client hands etcd's own errors (no leader, timeouts) back as rpctypes.EtcdError, which carries its gRPC
	// code without being a gRPC status.
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) && (ee.Code() == codes.Unavailable || ee.Code() == codes.DeadlineExceeded) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, rpctypes.ErrTimeout) ||
		status.Code(err) == codes.Unavailable || status.Code(err) == codes.DeadlineExceeded {
		return fmt.Errorf("%w: no answer from etcd at %s within %s (%v)", ErrUnreachable,
			strings.Join(e.cfg.Endpoints, ","), e.timeout, err)
	}
	return err
}

// marshal and unmarshal keep what another writer stored beyond this project's types (api.Unmodeled), so that
// a read-modify-write loses nothing.
func marshal(r api.Resource) ([]byte, error) {
	return api.Marshal(r)
}

func unmarshal(b []byte, r api.Resource) error {
	return api.Unmarshal(b, r)
}

// stored returns the JSON to store: typemeta set, resourceVersion blanked (etcd's mod revision is the version).
func stored(r api.Resource) ([]byte, error) {
	api.SetTypeMeta(r)
	m := r.GetObjectMeta()
	rv := m.ResourceVersion
	m.ResourceVersion = ""
	b, err := marshal(r)
	m.ResourceVersion = rv
	return b, err
}

func keyOf(r api.Resource) (string, error) {
	m := r.GetObjectMeta()
	k := api.KindOf(r)
	if m.Name == "" {
		return "", fmt.Errorf("insufficient identifiers, missing 'name' for %s", k.Name)
	}
	if k.Namespaced && m.Namespace == "" {
		return "", fmt.Errorf("insufficient identifiers, missing 'namespace' for %s", api.ID(r))
	}
	return ResourceKey(k, m.Namespace, m.Name), nil
}

// Create stores a new resource, giving it a uid and creation timestamp.
func (e *Etcd) Create(ctx context.Context, r api.Resource) (api.Resource, error) {
	m := r.GetObjectMeta()
	if m.ResourceVersion != "" {
		return nil, fmt.Errorf("creating %s: resourceVersion must not be set on create", api.ID(r))
	}
	key, err := keyOf(r)
	if err != nil {
		return nil, err
	}
	if m.UID == "" {
		m.UID = uuid.NewString()
	}
	if m.CreationTimestamp == "" {
		m.CreationTimestamp = time.Now().UTC().Format(time.RFC3339)
	}
	val, err := stored(r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := e.ctx(ctx)
	defer cancel()
	resp, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Version(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val))).
		Commit()
	if err != nil {
		return nil, e.wrap(err)
	}
	if !resp.Succeeded {
		return nil, fmt.Errorf("%w: %s", ErrAlreadyExists, api.ID(r))
	}
	m.ResourceVersion = strconv.FormatInt(resp.Header.Revision, 10)
	return r, nil
}

// Update replaces a resource whose resourceVersion matches the stored one. The uid and creation timestamp of the
// stored resource are kept when the update leaves them out.
func (e *Etcd) Update(ctx context.Context, r api.Resource) (api.Resource, error) {
	m := r.GetObjectMeta()
	if m.ResourceVersion == "" {
		return nil, fmt.Errorf("updating %s: resourceVersion is required", api.ID(r))
	}
	rev, err := strconv.ParseInt(m.ResourceVersion, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("updating %s: resourceVersion %q is not a revision", api.ID(r), m.ResourceVersion)
	}
	cur, err := e.Get(ctx, api.KindOf(r), m.Namespace, m.Name)
	if err != nil {
		return nil, err
	}
	if cur.GetObjectMeta().ResourceVersion != m.ResourceVersion {
		return nil, fmt.Errorf("%w: %s (resourceVersion %s is out of date, latest is %s)", ErrConflict, api.ID(r),
			m.ResourceVersion, cur.GetObjectMeta().ResourceVersion)
	}
	return e.put(ctx, r, rev, cur.GetObjectMeta())
}

// put writes r if the key's mod revision is still rev, keeping identity fields from cur.
func (e *Etcd) put(ctx context.Context, r api.Resource, rev int64, cur *api.ObjectMeta) (api.Resource, error) {
	m := r.GetObjectMeta()
	if m.UID == "" {
		m.UID = cur.UID
	}
	if m.CreationTimestamp == "" {
		m.CreationTimestamp = cur.CreationTimestamp
	}
	key, err := keyOf(r)
	if err != nil {
		return nil, err
	}
	val, err := stored(r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := e.ctx(ctx)
	defer cancel()
	resp, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(val))).
		Commit()
	if err != nil {
		return nil, e.wrap(err)
	}
	if !resp.Succeeded {
		return nil, fmt.Errorf("%w: %s", ErrConflict, api.ID(r))
	}
	m.ResourceVersion = strconv.FormatInt(resp.Header.Revision, 10)
	return r, nil
}

// Apply creates the resource or replaces the current one, retrying if it changes under us.
func (e *Etcd) Apply(ctx context.Context, r api.Resource) (api.Resource, error) {
	m := r.GetObjectMeta()
	m.ResourceVersion = ""
	for attempt := 0; ; attempt++ {
		cur, err := e.Get(ctx, api.KindOf(r), m.Namespace, m.Name)
		switch {
		case errors.Is(err, ErrNotFound):
			out, err := e.Create(ctx, r)
			if errors.Is(err, ErrAlreadyExists) && attempt < 5 {
				continue
			}
			return out, err
		case err != nil:
			return nil, err
		}
		rev, _ := strconv.ParseInt(cur.GetObjectMeta().ResourceVersion, 10, 64)
		out, err := e.put(ctx, r, rev, cur.GetObjectMeta())
		if errors.Is(err, ErrConflict) && attempt < 5 {
			m.ResourceVersion = ""
			continue
		}
		return out, err
	}
}

// Get reads one resource.
func (e *Etcd) Get(ctx context.Context, k *api.Kind, namespace, name string) (api.Resource, error) {
	if k.Namespaced && namespace == "" {
		namespace = api.DefaultNamespace
	}
	key := ResourceKey(k, namespace, name)
	ctx, cancel := e.ctx(ctx)
	defer cancel()
	resp, err := e.cli.Get(ctx, key)
	if err != nil {
		return nil, e.wrap(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id(k, namespace, name))
	}
	kv := resp.Kvs[0]
	return DecodeResource(string(kv.Key), kv.Value, kv.ModRevision)
}

func id(k *api.Kind, namespace, name string) string {
	if k.Namespaced {
		return fmt.Sprintf("%s(%s/%s)", k.Name, namespace, name)
	}
	return fmt.Sprintf("%s(%s)", k.Name, name)
}

// List returns every resource of a kind, sorted by key, with the revision they were read at.
func (e *Etcd) List(ctx context.Context, k *api.Kind, namespace string) ([]api.Resource, int64, error) {
	ctx, cancel := e.ctx(ctx)
	defer cancel()
	resp, err := e.cli.Get(ctx, KindPrefix(k, namespace), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, e.wrap(err)
	}
	out := make([]api.Resource, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		r, err := DecodeResource(string(kv.Key), kv.Value, kv.ModRevision)
		if err != nil {
			slog.Warn("skipping undecodable resource", "key", string(kv.Key), "err", err)
			continue
		}
		out = append(out, r)
	}
	return out, resp.Header.Revision, nil
}

// Delete removes a resource and returns what was stored.
func (e *Etcd) Delete(ctx context.Context, k *api.Kind, namespace, name, resourceVersion string) (api.Resource, error) {
	if k.Namespaced && namespace == "" {
		namespace = api.DefaultNamespace
	}
	key := ResourceKey(k, namespace, name)
	var conds []clientv3.Cmp
	if resourceVersion != "" {
		rev, err := strconv.ParseInt(resourceVersion, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("deleting %s: resourceVersion %q is not a revision", id(k, namespace, name), resourceVersion)
		}
		conds = append(conds, clientv3.Compare(clientv3.ModRevision(key), "=", rev))
	}
	ctx, cancel := e.ctx(ctx)
	defer cancel()
	resp, err := e.cli.Txn(ctx).If(conds...).Then(clientv3.OpDelete(key, clientv3.WithPrevKV())).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return nil, e.wrap(err)
	}
	if !resp.Succeeded {
		if len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id(k, namespace, name))
		}
		return nil, fmt.Errorf("%w: %s", ErrConflict, id(k, namespace, name))
	}
	del := resp.Responses[0].GetResponseDeleteRange()
	if len(del.PrevKvs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id(k, namespace, name))
	}
	kv := del.PrevKvs[0]
	return DecodeResource(string(kv.Key), kv.Value, kv.ModRevision)
}
