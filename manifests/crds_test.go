package manifests

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/internal/kubetest"
)

const (
	crdsFile  = "crds.yaml"
	crdGroup  = "crd.projectcalico.org"
	crdAPIVer = crdGroup + "/v1"
)

// crdKind is what crds.yaml must define for one kind, and the v3 spec type its schema mirrors (nil for the IPAM
// kinds, which have no v3 type: ipamFields lists their fields, as Calico's CRDs have them).
type crdKind struct {
	kind, plural string
	namespaced   bool
	spec         reflect.Type
}

var crdKinds = []crdKind{
	{"IPPool", "ippools", false, reflect.TypeFor[api.IPPoolSpec]()},
	{"BGPConfiguration", "bgpconfigurations", false, reflect.TypeFor[api.BGPConfigurationSpec]()},
	{"BGPPeer", "bgppeers", false, reflect.TypeFor[api.BGPPeerSpec]()},
	{"BGPFilter", "bgpfilters", false, reflect.TypeFor[api.BGPFilterSpec]()},
	{"FelixConfiguration", "felixconfigurations", false, reflect.TypeFor[api.FelixConfigurationSpec]()},
	{"GlobalNetworkPolicy", "globalnetworkpolicies", false, reflect.TypeFor[api.GlobalNetworkPolicySpec]()},
	{"NetworkPolicy", "networkpolicies", true, reflect.TypeFor[api.NetworkPolicySpec]()},
	{"Tier", "tiers", false, reflect.TypeFor[api.TierSpec]()},
	{"GlobalNetworkSet", "globalnetworksets", false, reflect.TypeFor[api.GlobalNetworkSetSpec]()},
	{"HostEndpoint", "hostendpoints", false, reflect.TypeFor[api.HostEndpointSpec]()},
	{"ClusterInformation", "clusterinformations", false, reflect.TypeFor[api.ClusterInformationSpec]()},
	{"IPAMBlock", "ipamblocks", false, nil},
	{"BlockAffinity", "blockaffinities", false, nil},
	{"IPAMHandle", "ipamhandles", false, nil},
	{"IPAMConfig", "ipamconfigs", false, nil},
}

// ipamFields are the spec fields of Calico's IPAM CRDs, with their schema types.
var ipamFields = map[string]map[string]string{
	"IPAMBlock": {"cidr": "string", "affinity": "string", "strictAffinity": "boolean", "allocations": "array",
		"unallocated": "array", "attributes": "array", "deleted": "boolean", "sequenceNumber": "integer",
		"sequenceNumberForAllocation": "object"},
	"BlockAffinity": {"state": "string", "node": "string", "cidr": "string", "deleted": "string", "type": "string"},
	"IPAMHandle":    {"handleID": "string", "block": "object", "deleted": "boolean"},
	"IPAMConfig":    {"strictAffinity": "boolean", "autoAllocateBlocks": "boolean", "maxBlocksPerHost": "integer"},
}

// crdDoc is the part of a CustomResourceDefinition these tests read. It is decoded strictly, so a misspelt
// keyword anywhere in a schema is an error rather than a silently ignored key.
type crdDoc struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind     string `json:"kind"`
			ListKind string `json:"listKind"`
			Plural   string `json:"plural"`
			Singular string `json:"singular"`
		} `json:"names"`
		Scope    string `json:"scope"`
		Versions []struct {
			Name    string `json:"name"`
			Served  bool   `json:"served"`
			Storage bool   `json:"storage"`
			Schema  struct {
				OpenAPIV3Schema *jsonSchema `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

// jsonSchema is the subset of OpenAPI v3 that crds.yaml may use.
type jsonSchema struct {
	Type                 string                 `json:"type,omitempty"`
	Format               string                 `json:"format,omitempty"`
	Properties           map[string]*jsonSchema `json:"properties,omitempty"`
	Required             []string               `json:"required,omitempty"`
	Items                *jsonSchema            `json:"items,omitempty"`
	AdditionalProperties *jsonSchema            `json:"additionalProperties,omitempty"`
	Enum                 []any                  `json:"enum,omitempty"`
	Minimum              *float64               `json:"minimum,omitempty"`
	Maximum              *float64               `json:"maximum,omitempty"`
	Pattern              string                 `json:"pattern,omitempty"`
	Nullable             bool                   `json:"nullable,omitempty"`
	AnyOf                []*jsonSchema          `json:"anyOf,omitempty"`
	IntOrString          bool                   `json:"x-kubernetes-int-or-string,omitempty"`
	PreserveUnknown      bool                   `json:"x-kubernetes-preserve-unknown-fields,omitempty"`
	Validations          []struct {
		Rule    string `json:"rule"`
		Message string `json:"message"`
	} `json:"x-kubernetes-validations,omitempty"`
}

func loadCRDs(t *testing.T) []crdDoc {
	t.Helper()
	var crds []crdDoc
	for i, d := range documents(t, crdsFile) {
		var c crdDoc
		if err := yaml.UnmarshalStrict(d, &c); err != nil {
			t.Fatalf("%s document %d: %v", crdsFile, i+1, err)
		}
		crds = append(crds, c)
	}
	return crds
}

func TestCRDsDefineEveryCalicoKind(t *testing.T) {
	crds := loadCRDs(t)
	byKind := map[string]crdDoc{}
	for i, c := range crds {
		if c.APIVersion != "apiextensions.k8s.io/v1" || c.Kind != "CustomResourceDefinition" {
			t.Errorf("document %d: expected apiextensions.k8s.io/v1 CustomResourceDefinition, got %s %s", i+1, c.APIVersion, c.Kind)
		}
		if _, dup := byKind[c.Spec.Names.Kind]; dup {
			t.Errorf("document %d: kind %s is defined twice", i+1, c.Spec.Names.Kind)
		}
		byKind[c.Spec.Names.Kind] = c
	}
	var want []string
	for _, k := range crdKinds {
		want = append(want, k.kind)
	}
	if got := slices.Sorted(maps.Keys(byKind)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("expected the kinds %v, got %v", slices.Sorted(slices.Values(want)), got)
	}
	for _, k := range crdKinds {
		t.Run(k.kind, func(t *testing.T) {
			c := byKind[k.kind]
			if want := k.plural + "." + crdGroup; c.Metadata.Name != want {
				t.Errorf("expected metadata.name %s, got %s", want, c.Metadata.Name)
			}
			if c.Spec.Group != crdGroup {
				t.Errorf("expected group %s, got %s", crdGroup, c.Spec.Group)
			}
			n := c.Spec.Names
			if n.Plural != k.plural || n.Singular != strings.ToLower(k.kind) || n.ListKind != k.kind+"List" {
				t.Errorf("expected names %s/%s/%sList, got plural %s singular %s listKind %s",
					k.plural, strings.ToLower(k.kind), k.kind, n.Plural, n.Singular, n.ListKind)
			}
			wantScope := map[bool]string{false: "Cluster", true: "Namespaced"}[k.namespaced]
			if c.Spec.Scope != wantScope {
				t.Errorf("expected scope %s, got %s", wantScope, c.Spec.Scope)
			}
			if len(c.Spec.Versions) != 1 {
				t.Fatalf("expected one version (v1), got %d", len(c.Spec.Versions))
			}
			v := c.Spec.Versions[0]
			if v.Name != "v1" || !v.Served || !v.Storage {
				t.Errorf("expected version v1 served and stored, got %s served=%v storage=%v", v.Name, v.Served, v.Storage)
			}
			root := v.Schema.OpenAPIV3Schema
			if root == nil || root.Type != "object" {
				t.Fatalf("expected an openAPIV3Schema of type object, got %+v", root)
			}
			spec := root.Properties["spec"]
			if spec == nil || spec.Type != "object" {
				t.Fatalf("expected a spec property of type object, got %+v", spec)
			}
			if spec.PreserveUnknown || root.PreserveUnknown {
				t.Errorf("expected a closed spec, got x-kubernetes-preserve-unknown-fields on the whole object or spec")
			}
			checkStructural(t, "spec", spec)
			if k.spec != nil {
				checkMirrors(t, "spec", spec, k.spec)
				return
			}
			got := map[string]string{}
			for name, p := range spec.Properties {
				got[name] = p.Type
			}
			if !maps.Equal(got, ipamFields[k.kind]) {
				t.Errorf("expected spec fields %v, got %v", ipamFields[k.kind], got)
			}
		})
	}
}

// checkStructural checks the rules of a structural schema that a typo would break: every node has a type, or is
// int-or-string with exactly anyOf [integer, string]; anyOf appears nowhere else; required names a property.
func checkStructural(t *testing.T, path string, s *jsonSchema) {
	t.Helper()
	switch {
	case s.IntOrString:
		if s.Type != "" || len(s.AnyOf) != 2 || s.AnyOf[0].Type != "integer" || s.AnyOf[1].Type != "string" {
			t.Errorf("%s: expected int-or-string with anyOf [integer, string] and no type, got type %q anyOf %d", path, s.Type, len(s.AnyOf))
		}
	case s.Type == "":
		t.Errorf("%s: expected a type, got none", path)
	case len(s.AnyOf) > 0:
		t.Errorf("%s: expected anyOf only on int-or-string fields, got it on a %s", path, s.Type)
	}
	if s.PreserveUnknown {
		t.Errorf("%s: expected no x-kubernetes-preserve-unknown-fields (every field's shape is known), got it", path)
	}
	for _, r := range s.Required {
		if s.Properties[r] == nil {
			t.Errorf("%s: required field %s is not a property", path, r)
		}
	}
	for name, p := range s.Properties {
		checkStructural(t, path+"."+name, p)
	}
	if s.Items != nil {
		checkStructural(t, path+"[]", s.Items)
	}
	if s.AdditionalProperties != nil {
		checkStructural(t, path+"{}", s.AdditionalProperties)
	}
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// checkMirrors checks that a schema has exactly the JSON fields of a Go type, of matching types, all the way
// down: a v3 spec stored as-is loses no field to pruning and gains none.
func checkMirrors(t *testing.T, path string, s *jsonSchema, typ reflect.Type) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if reflect.PointerTo(typ).Implements(jsonUnmarshaler) {
		// Port, Protocol and ASNumber are written as a number or a string; Duration as a string.
		if typ == reflect.TypeFor[api.Duration]() {
			if s.Type != "string" {
				t.Errorf("%s: expected a string (a duration like \"90s\"), got %q", path, s.Type)
			}
		} else if !s.IntOrString {
			t.Errorf("%s: expected int-or-string for %s, got type %q", path, typ, s.Type)
		}
		return
	}
	want := map[reflect.Kind]string{
		reflect.String: "string", reflect.Bool: "boolean", reflect.Int: "integer", reflect.Int32: "integer",
		reflect.Uint8: "integer", reflect.Uint16: "integer",
		reflect.Uint32: "integer", reflect.Float64: "number", reflect.Slice: "array", reflect.Map: "object",
		reflect.Struct: "object",
	}[typ.Kind()]
	if s.Type != want {
		t.Errorf("%s: expected type %q for Go %s, got %q", path, want, typ, s.Type)
		return
	}
	switch typ.Kind() {
	case reflect.Slice:
		checkMirrors(t, path+"[]", s.Items, typ.Elem())
	case reflect.Map:
		checkMirrors(t, path+"{}", s.AdditionalProperties, typ.Elem())
	case reflect.Struct:
		fields := map[string]reflect.Type{}
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.IsExported() && name != "-" && name != "" {
				fields[name] = f.Type
			}
		}
		if got, want := slices.Sorted(maps.Keys(s.Properties)), slices.Sorted(maps.Keys(fields)); !slices.Equal(got, want) {
			t.Errorf("%s: expected the fields of %s %v, got %v", path, typ, want, got)
		}
		for name, ft := range fields {
			if p := s.Properties[name]; p != nil {
				checkMirrors(t, path+"."+name, p, ft)
			}
		}
	}
}

// validObjects are one realistic object of each kind, written as crd.projectcalico.org/v1 objects.
var validObjects = []struct {
	name string
	yaml string
}{
	{"IPPool", `
kind: IPPool
metadata: {name: pool-a}
spec: {cidr: 10.65.0.0/16, blockSize: 26, ipipMode: Always, vxlanMode: Never, natOutgoing: true, nodeSelector: all()}`},
	{"IPv6 IPPool", `
kind: IPPool
metadata: {name: pool-v6}
spec: {cidr: "fd00:65::/48", blockSize: 122, ipipMode: Never, vxlanMode: CrossSubnet, disabled: true}`},
	{"BGPConfiguration", `
kind: BGPConfiguration
metadata: {name: default}
spec: {logSeverityScreen: Info, nodeToNodeMeshEnabled: false, asNumber: 64512, nodeMeshMaxRestartTime: 90s}`},
	{"BGPPeer with a dotted AS", `
kind: BGPPeer
metadata: {name: rack1-tor}
spec: {nodeSelector: rack == 'rack1', peerIP: 10.0.0.1, asNumber: "1.10", password: {secretKeyRef: {name: bgp-passwords, key: rack1}}}`},
	{"BGPPeer by selector", `
kind: BGPPeer
metadata: {name: route-reflectors}
spec: {node: node-1, peerSelector: has(route-reflector)}`},
	{"FelixConfiguration", `
kind: FelixConfiguration
metadata: {name: default}
spec:
  ipv6Support: false
  routeRefreshInterval: 90s
  iptablesLockTimeout: 10s
  interfacePrefix: cali,tap
  chainInsertMode: Append
  defaultEndpointToHostAction: Return
  iptablesFilterAllowAction: Accept
  iptablesMarkMask: 4294901760
  iptablesBackend: Legacy
  logSeverityScreen: Warning
  ipipEnabled: true
  ipipMTU: 1440
  healthEnabled: true
  healthHost: localhost
  healthPort: 9099
  prometheusMetricsEnabled: true
  prometheusMetricsPort: 9091
  failsafeInboundHostPorts: [{protocol: TCP, port: 22}, {protocol: UDP, port: 68}]
  failsafeOutboundHostPorts: []`},
	{"Tier", `
kind: Tier
metadata: {name: security}
spec: {order: 100, defaultAction: Pass}`},
	{"tiered GlobalNetworkPolicy", `
kind: GlobalNetworkPolicy
metadata: {name: security.block-meta}
spec:
  tier: security
  selector: all()
  egress: [{action: Deny, destination: {nets: [169.254.169.254/32]}}, {action: Pass}]`},
	{"GlobalNetworkPolicy", `
kind: GlobalNetworkPolicy
metadata: {name: allow-web}
spec:
  order: 100.5
  selector: role == 'web'
  types: [Ingress, Egress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: role == 'frontend', namespaceSelector: all(), notNets: [10.1.0.0/16]}
    destination: {ports: [80, http, "8000:8080"], notPorts: ["9000"]}
  - action: Deny
    ipVersion: 4
    protocol: ICMP
    icmp: {type: 8, code: 0}
  - action: Log
    protocol: 17
    notProtocol: UDPLite
  egress:
  - action: Pass
    destination: {nets: [0.0.0.0/0], notSelector: has(blocked)}
  doNotTrack: false
  preDNAT: false
  applyOnForward: true`},
	{"NetworkPolicy", `
kind: NetworkPolicy
metadata: {name: allow-db, namespace: shop}
spec:
  order: 10
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: app == 'api'}
    destination: {ports: [5432]}`},
	{"GlobalNetworkSet", `
kind: GlobalNetworkSet
metadata: {name: blocked, labels: {blocked: "true"}}
spec: {nets: [192.0.2.0/24, "2001:db8::/32"]}`},
	{"HostEndpoint", `
kind: HostEndpoint
metadata: {name: node-1-eth0, labels: {role: edge}}
spec:
  node: node-1
  interfaceName: eth0
  expectedIPs: [192.168.0.10]
  profiles: [edge]
  ports: [{name: http, protocol: TCP, port: 80}, {name: dns, protocol: 17, port: 53}]`},
	{"ClusterInformation", `
kind: ClusterInformation
metadata: {name: default}
spec: {clusterGUID: 8d3fda1ac6b44d73a5b1e3c8a2e3f0c1, clusterType: "k8s,bgp", calicoVersion: v3.30.0, datastoreReady: true}`},
	{"IPAMBlock", `
kind: IPAMBlock
metadata: {name: 10-65-0-0-26}
spec:
  cidr: 10.65.0.0/26
  affinity: host:node-1
  strictAffinity: false
  allocations: [0, null, 1, null]
  unallocated: [1, 3]
  attributes:
  - {handle_id: k8s-pod-network.abc, secondary: {namespace: default, pod: web-0, node: node-1}}
  - {handle_id: null, secondary: null}
  deleted: false
  sequenceNumber: 7
  sequenceNumberForAllocation: {"0": 3, "2": 7}`},
	{"IPAMBlock without affinity", `
kind: IPAMBlock
metadata: {name: 10-65-0-64-26}
spec: {cidr: 10.65.0.64/26, affinity: null, strictAffinity: false, allocations: [null, null], unallocated: [0, 1], attributes: [], sequenceNumber: 0}`},
	{"BlockAffinity", `
kind: BlockAffinity
metadata: {name: node-1-10-65-0-0-26}
spec: {state: confirmed, node: node-1, cidr: 10.65.0.0/26, deleted: "false", type: host}`},
	{"IPAMHandle", `
kind: IPAMHandle
metadata: {name: k8s-pod-network.abc}
spec: {handleID: k8s-pod-network.abc, block: {10.65.0.0/26: 1}, deleted: false}`},
	{"IPAMConfig", `
kind: IPAMConfig
metadata: {name: default}
spec: {strictAffinity: false, autoAllocateBlocks: true, maxBlocksPerHost: 0}`},
}

// object builds an unstructured crd.projectcalico.org/v1 object from the YAML of a test case.
func object(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte("apiVersion: " + crdAPIVer + "\n" + strings.TrimSpace(doc)))
	if err != nil {
		t.Fatalf("test object: %v", err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		t.Fatalf("test object: %v", err)
	}
	return u
}

// TestValidCRDObjectsAreValidV3 checks the fixtures themselves: each Calico kind's object, written as
// projectcalico.org/v3, decodes strictly and validates, so the API server test stores real v3 specs.
func TestValidCRDObjectsAreValidV3(t *testing.T) {
	for _, tc := range validObjects {
		t.Run(tc.name, func(t *testing.T) {
			u := object(t, tc.yaml)
			if ipamFields[u.GetKind()] != nil {
				t.Skip("an IPAM kind has no v3 form")
			}
			u.SetAPIVersion(api.Group)
			js, err := u.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			docs, err := api.Decode(js)
			if err != nil {
				t.Fatalf("expected the spec to decode as %s, got %v", api.Group, err)
			}
			if err := docs[0].Resource.Validate(); err != nil {
				t.Errorf("expected a valid %s, got %v", u.GetKind(), err)
			}
		})
	}
}

func TestCRDsOnAnAPIServer(t *testing.T) {
	s := kubetest.Start(t, kubetest.Options{})
	if out, err := s.Kubectl(t, "apply", "-f", crdsFile); err != nil {
		t.Fatalf("expected crds.yaml to apply, got %v\n%s", err, out)
	}
	for _, k := range crdKinds {
		if out, err := s.Kubectl(t, "wait", "--for", "condition=established", "--timeout=60s", "crd/"+k.plural+"."+crdGroup); err != nil {
			t.Fatalf("expected %s to be established, got %v\n%s", k.kind, err, out)
		}
	}
	if _, err := s.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	resource := func(u *unstructured.Unstructured) dynamic.ResourceInterface {
		for _, k := range crdKinds {
			if k.kind == u.GetKind() {
				r := dyn.Resource(schema.GroupVersionResource{Group: crdGroup, Version: "v1", Resource: k.plural})
				if k.namespaced {
					return r.Namespace(u.GetNamespace())
				}
				return r
			}
		}
		t.Fatalf("no CRD for kind %s", u.GetKind())
		return nil
	}
	// Strict field validation: an unknown field is an error, not a warning and a silent prune.
	strictCreate := metav1.CreateOptions{FieldValidation: "Strict"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("valid", func(t *testing.T) {
		for _, tc := range validObjects {
			t.Run(tc.name, func(t *testing.T) {
				want := object(t, tc.yaml)
				if _, err := resource(want).Create(ctx, want, strictCreate); err != nil {
					t.Fatalf("expected the API server to accept the %s, got %v", want.GetKind(), err)
				}
				got, err := resource(want).Get(ctx, want.GetName(), metav1.GetOptions{})
				if err != nil {
					t.Fatalf("expected to read the %s back, got %v", want.GetKind(), err)
				}
				if !apiequality.Semantic.DeepEqual(got.Object["spec"], want.Object["spec"]) {
					t.Errorf("expected the spec back as stored\nexpected %v\ngot      %v", want.Object["spec"], got.Object["spec"])
				}
			})
		}
	})

	t.Run("kubectl get lists the pool", func(t *testing.T) {
		out, err := s.Kubectl(t, "get", "ippools.crd.projectcalico.org", "-o", "name")
		if err != nil {
			t.Fatalf("kubectl get: %v\n%s", err, out)
		}
		if !strings.Contains(out, "ippool.crd.projectcalico.org/pool-a") {
			t.Errorf("expected ippool.crd.projectcalico.org/pool-a in the list, got %q", out)
		}
	})

	invalid := []struct {
		name string
		yaml string
		want []string // every one must appear in the API server's error
	}{
		{"IPPool without spec", `
kind: IPPool
metadata: {name: bad-nospec}`, []string{"spec: Required value"}},
		{"IPPool without cidr", `
kind: IPPool
metadata: {name: bad-nocidr}
spec: {blockSize: 26}`, []string{"spec.cidr: Required value"}},
		{"IPPool ipipMode Sometimes", `
kind: IPPool
metadata: {name: bad-ipip}
spec: {cidr: 10.66.0.0/16, ipipMode: Sometimes}`, []string{"spec.ipipMode", `Unsupported value: "Sometimes"`}},
		{"IPPool vxlanMode lower case", `
kind: IPPool
metadata: {name: bad-vxlan}
spec: {cidr: 10.66.0.0/16, vxlanMode: always}`, []string{"spec.vxlanMode", "Unsupported value"}},
		{"IPPool blockSize as a string", `
kind: IPPool
metadata: {name: bad-blocksize-type}
spec: {cidr: 10.66.0.0/16, blockSize: "26"}`, []string{"spec.blockSize", "must be of type integer"}},
		{"IPPool blockSize 129", `
kind: IPPool
metadata: {name: bad-blocksize}
spec: {cidr: 10.66.0.0/16, blockSize: 129}`, []string{"spec.blockSize", "less than or equal to 128"}},
		{"IPPool natOutgoing as a string", `
kind: IPPool
metadata: {name: bad-nat}
spec: {cidr: 10.66.0.0/16, natOutgoing: "yes"}`, []string{"spec.natOutgoing", "must be of type boolean"}},
		{"IPPool unknown field", `
kind: IPPool
metadata: {name: bad-field}
spec: {cidr: 10.66.0.0/16, ipipMod: Always}`, []string{`unknown field "spec.ipipMod"`}},
		{"rule action Maybe", `
kind: GlobalNetworkPolicy
metadata: {name: bad-action}
spec: {ingress: [{action: Maybe}]}`, []string{"spec.ingress[0].action", `Unsupported value: "Maybe"`}},
		{"rule without action", `
kind: NetworkPolicy
metadata: {name: bad-noaction, namespace: shop}
spec: {egress: [{protocol: TCP}]}`, []string{"spec.egress[0].action: Required value"}},
		{"rule ipVersion 5", `
kind: GlobalNetworkPolicy
metadata: {name: bad-ipversion}
spec: {ingress: [{action: Allow, ipVersion: 5}]}`, []string{"spec.ingress[0].ipVersion", "Unsupported value: 5"}},
		{"rule port 70000", `
kind: GlobalNetworkPolicy
metadata: {name: bad-port}
spec: {ingress: [{action: Allow, protocol: TCP, destination: {ports: [80, 70000]}}]}`, []string{"spec.ingress[0].destination.ports[1]", "less than or equal to 65535"}},
		{"rule port name in upper case", `
kind: GlobalNetworkPolicy
metadata: {name: bad-port-name}
spec: {ingress: [{action: Allow, protocol: TCP, source: {notPorts: [HTTP]}}]}`, []string{"spec.ingress[0].source.notPorts[0]", "should match"}},
		{"rule port as an object", `
kind: GlobalNetworkPolicy
metadata: {name: bad-port-object}
spec: {ingress: [{action: Allow, protocol: TCP, destination: {ports: [{port: 80}]}}]}`, []string{"spec.ingress[0].destination.ports[0]"}},
		{"rule protocol lower case", `
kind: NetworkPolicy
metadata: {name: bad-protocol, namespace: shop}
spec: {ingress: [{action: Allow, protocol: tcp}]}`, []string{"spec.ingress[0].protocol", "should match"}},
		{"rule protocol 256", `
kind: NetworkPolicy
metadata: {name: bad-protocol-number, namespace: shop}
spec: {ingress: [{action: Allow, notProtocol: 256}]}`, []string{"spec.ingress[0].notProtocol", "less than or equal to 255"}},
		{"rule ICMP type 255", `
kind: GlobalNetworkPolicy
metadata: {name: bad-icmp}
spec: {ingress: [{action: Allow, protocol: ICMP, icmp: {type: 255}}]}`, []string{"spec.ingress[0].icmp.type", "less than or equal to 254"}},
		{"policy type Forward", `
kind: GlobalNetworkPolicy
metadata: {name: bad-types}
spec: {types: [Ingress, Forward]}`, []string{"spec.types[1]", `Unsupported value: "Forward"`}},
		{"policy order as a string", `
kind: NetworkPolicy
metadata: {name: bad-order, namespace: shop}
spec: {order: high}`, []string{"spec.order", "must be of type number"}},
		{"BGPPeer asNumber -1", `
kind: BGPPeer
metadata: {name: bad-as}
spec: {peerIP: 10.0.0.1, asNumber: -1}`, []string{"spec.asNumber", "greater than or equal to 0"}},
		{"BGPPeer asNumber too large", `
kind: BGPPeer
metadata: {name: bad-as-large}
spec: {peerIP: 10.0.0.1, asNumber: 4294967296}`, []string{"spec.asNumber", "less than or equal to 4294967295"}},
		{"BGPConfiguration asNumber not a number", `
kind: BGPConfiguration
metadata: {name: bad-as-string}
spec: {asNumber: sixty}`, []string{"spec.asNumber", "should match"}},
		{"BGPConfiguration logSeverityScreen", `
kind: BGPConfiguration
metadata: {name: node.bad-severity}
spec: {logSeverityScreen: Verbose}`, []string{"spec.logSeverityScreen", `Unsupported value: "Verbose"`}},
		{"FelixConfiguration ipipMTU 100", `
kind: FelixConfiguration
metadata: {name: bad-mtu}
spec: {ipipMTU: 100}`, []string{"spec.ipipMTU", "must be 0 (from the host interface) or between 576 and 65535"}},
		{"FelixConfiguration chainInsertMode", `
kind: FelixConfiguration
metadata: {name: bad-chain}
spec: {chainInsertMode: Prepend}`, []string{"spec.chainInsertMode", `Unsupported value: "Prepend"`}},
		{"Tier default action", `
kind: Tier
metadata: {name: bad-action}
spec: {defaultAction: Allow}`, []string{"spec.defaultAction", `Unsupported value: "Allow"`}},
		{"GlobalNetworkPolicy tier with a dot", `
kind: GlobalNetworkPolicy
metadata: {name: a.b.c}
spec: {tier: a.b, selector: all()}`, []string{"spec.tier", "should match"}},
		{"FelixConfiguration failsafe protocol", `
kind: FelixConfiguration
metadata: {name: bad-failsafe}
spec: {failsafeInboundHostPorts: [{protocol: ICMP, port: 22}]}`, []string{"spec.failsafeInboundHostPorts[0].protocol", `Unsupported value: "ICMP"`}},
		{"FelixConfiguration duration as a number", `
kind: FelixConfiguration
metadata: {name: bad-duration}
spec: {routeRefreshInterval: 90}`, []string{"spec.routeRefreshInterval", "must be of type string"}},
		{"HostEndpoint port 0", `
kind: HostEndpoint
metadata: {name: bad-hep}
spec: {node: node-1, interfaceName: eth0, ports: [{name: http, protocol: TCP, port: 0}]}`, []string{"spec.ports[0].port", "greater than or equal to 1"}},
		{"GlobalNetworkSet nets not a list", `
kind: GlobalNetworkSet
metadata: {name: bad-nets}
spec: {nets: 10.0.0.0/8}`, []string{"spec.nets", "must be of type array"}},
		{"ClusterInformation datastoreReady as a string", `
kind: ClusterInformation
metadata: {name: bad-ready}
spec: {datastoreReady: "true"}`, []string{"spec.datastoreReady", "must be of type boolean"}},
		{"labels with a non-string value", `
kind: GlobalNetworkSet
metadata: {name: bad-labels, labels: {blocked: true}}
spec: {nets: [10.0.0.0/8]}`, []string{"labels of type string"}},
		{"IPAMBlock secondary attribute not a string", `
kind: IPAMBlock
metadata: {name: bad-secondary}
spec: {cidr: 10.65.1.0/26, strictAffinity: false, allocations: [0], unallocated: [], sequenceNumber: 0, attributes: [{handle_id: h, secondary: {pod: 5}}]}`,
			[]string{"spec.attributes[0].secondary.pod", "must be of type string"}},
		{"IPAMBlock without cidr", `
kind: IPAMBlock
metadata: {name: bad-block}
spec: {strictAffinity: false, allocations: [], unallocated: [], attributes: [], sequenceNumber: 0}`, []string{"spec.cidr: Required value"}},
		{"IPAMBlock allocation not a number", `
kind: IPAMBlock
metadata: {name: bad-allocation}
spec: {cidr: 10.65.1.0/26, strictAffinity: false, allocations: ["0"], unallocated: [], attributes: [], sequenceNumber: 0}`, []string{"spec.allocations[0]", "must be of type integer"}},
		{"BlockAffinity deleted as a boolean", `
kind: BlockAffinity
metadata: {name: bad-affinity}
spec: {state: confirmed, node: node-1, cidr: 10.65.0.0/26, deleted: false}`, []string{"spec.deleted", "must be of type string"}},
		{"IPAMHandle block count not a number", `
kind: IPAMHandle
metadata: {name: bad-handle}
spec: {handleID: bad-handle, block: {10.65.0.0/26: one}}`, []string{"spec.block.10.65.0.0/26", "must be of type integer"}},
		{"IPAMConfig maxBlocksPerHost -1", `
kind: IPAMConfig
metadata: {name: bad-config}
spec: {strictAffinity: false, autoAllocateBlocks: true, maxBlocksPerHost: -1}`, []string{"spec.maxBlocksPerHost", "greater than or equal to 0"}},
	}
	t.Run("invalid", func(t *testing.T) {
		for _, tc := range invalid {
			t.Run(tc.name, func(t *testing.T) {
				u := object(t, tc.yaml)
				_, err := resource(u).Create(ctx, u, strictCreate)
				if err == nil {
					t.Fatalf("expected the API server to reject the %s, got it created", u.GetKind())
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("expected the error to mention %q, got %v", w, err)
					}
				}
				t.Logf("rejected: %v", err)
			})
		}
	})
	t.Run("invalid through kubectl", func(t *testing.T) {
		out, err := kubectlApply(t, s, `
kind: IPPool
metadata: {name: bad-kubectl}
spec: {cidr: 10.67.0.0/16, ipipMode: Sometimes}`)
		if err == nil || !strings.Contains(out, "spec.ipipMode") {
			t.Errorf("expected kubectl apply to fail naming spec.ipipMode, got err %v and %q", err, out)
		}
	})
}

// kubectlApply writes one crd.projectcalico.org/v1 object to a file and applies it with kubectl.
func kubectlApply(t *testing.T, s *kubetest.Server, doc string) (string, error) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "object.yaml")
	if err := os.WriteFile(f, []byte("apiVersion: "+crdAPIVer+"\n"+strings.TrimSpace(doc)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s.Kubectl(t, "apply", "-f", f)
}
