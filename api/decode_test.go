package api

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// summary lists decoded documents as "index Kind name" for compact comparisons.
func summary(docs []Document) []string {
	out := []string{}
	for _, d := range docs {
		out = append(out, fmt.Sprintf("%d %s %s", d.Index, KindOf(d.Resource).Name, d.Resource.GetObjectMeta().Name))
	}
	return out
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeSingleYAMLDocument(t *testing.T) {
	docs, err := Decode([]byte(`
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pool1
  labels:
    zone: a
spec:
  cidr: 10.10.0.0/16
  blockSize: 24
  ipipMode: CrossSubnet
  natOutgoing: true
  nodeSelector: zone == 'a'
`))
	if err != nil {
		t.Fatalf("expected the pool to decode, got: %v", err)
	}
	want := &IPPool{
		TypeMeta:   TypeMeta{Kind: "IPPool", APIVersion: Group},
		ObjectMeta: ObjectMeta{Name: "pool1", Labels: map[string]string{"zone": "a"}},
		Spec:       IPPoolSpec{CIDR: "10.10.0.0/16", BlockSize: 24, IPIPMode: EncapCrossSubnet, NATOutgoing: true, NodeSelector: "zone == 'a'"},
	}
	if len(docs) != 1 || docs[0].Index != 1 || !reflect.DeepEqual(docs[0].Resource, want) {
		t.Fatalf("expected one document 1 holding\n%+v\ngot %+v", want, docs)
	}
}

func TestDecodeMultiDocumentYAML(t *testing.T) {
	docs, err := Decode(readTestdata(t, "manifests/cluster.yaml"))
	if err != nil {
		t.Fatalf("expected the manifest to decode, got: %v", err)
	}
	want := []string{"1 IPPool default-ipv4-ippool", "2 BGPConfiguration default", "3 BGPPeer tor-rack1", "4 NetworkPolicy allow-frontend"}
	if got := summary(docs); !reflect.DeepEqual(got, want) {
		t.Fatalf("expected %q, got %q", want, got)
	}
	peer := docs[2].Resource.(*BGPPeer)
	if peer.Spec.ASNumber == nil || *peer.Spec.ASNumber != 65546 {
		t.Errorf("expected the dotted AS number \"1.10\" to decode to 65546, got %v", peer.Spec.ASNumber)
	}
	bgp := docs[1].Resource.(*BGPConfiguration)
	if bgp.Spec.MeshEnabled() || bgp.Spec.EffectiveASNumber() != 63400 {
		t.Errorf("expected mesh off and AS 63400, got %v and %d", bgp.Spec.MeshEnabled(), bgp.Spec.EffectiveASNumber())
	}
	np := docs[3].Resource.(*NetworkPolicy)
	wantPorts := []Port{{MinPort: 6379, MaxPort: 6379}, {MinPort: 7000, MaxPort: 7010}, {PortName: "redis-metrics"}}
	if got := np.Spec.Ingress[0].Destination.Ports; !reflect.DeepEqual(got, wantPorts) {
		t.Errorf("expected ports %+v, got %+v", wantPorts, got)
	}
	if np.Namespace != "production" {
		t.Errorf("expected namespace production, got %q", np.Namespace)
	}
}

func TestDecodeShapes(t *testing.T) {
	pool := func(name, cidr string) string {
		return fmt.Sprintf(`{"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": %q}, "spec": {"cidr": %q}}`, name, cidr)
	}
	cases := []struct {
		name string
		in   string
		want []string
	}{
		{"an empty file has no documents", "", []string{}},
		{"a file of only comments and separators has no documents", "# nothing here\n---\n# still nothing\n---\n\n", []string{}},
		{"a JSON object is one document", pool("p1", "10.0.0.0/16"), []string{"1 IPPool p1"}},
		{"a JSON array holds one document per item", "[" + pool("p1", "10.0.0.0/16") + ",\n" + pool("p2", "10.1.0.0/16") + "]",
			[]string{"1 IPPool p1", "2 IPPool p2"}},
		{"JSON documents can be separated by ---", pool("p1", "10.0.0.0/16") + "\n---\n" + pool("p2", "10.1.0.0/16"),
			[]string{"1 IPPool p1", "2 IPPool p2"}},
		{"a YAML sequence holds one document per item", `
- apiVersion: projectcalico.org/v3
  kind: Profile
  metadata: {name: net1}
- apiVersion: projectcalico.org/v3
  kind: HostEndpoint
  metadata: {name: node1-eth0}
  spec: {node: node1, interfaceName: eth0}
`, []string{"1 Profile net1", "2 HostEndpoint node1-eth0"}},
		{"a kind List holds its items", `
apiVersion: projectcalico.org/v3
kind: List
items:
- apiVersion: projectcalico.org/v3
  kind: IPPool
  metadata: {name: p1}
  spec: {cidr: 10.0.0.0/16}
- apiVersion: projectcalico.org/v3
  kind: GlobalNetworkSet
  metadata: {name: external}
  spec: {nets: [198.51.100.0/24]}
`, []string{"1 IPPool p1", "2 GlobalNetworkSet external"}},
		{"an IPPoolList as calicoctl get -o yaml prints it holds its items", `
apiVersion: projectcalico.org/v3
kind: IPPoolList
metadata:
  resourceVersion: "1234"
items:
- apiVersion: projectcalico.org/v3
  kind: IPPool
  metadata: {name: p1, resourceVersion: "1200"}
  spec: {cidr: 10.0.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: true}
- apiVersion: projectcalico.org/v3
  kind: IPPool
  metadata: {name: p2}
  spec: {cidr: 10.1.0.0/16}
`, []string{"1 IPPool p1", "2 IPPool p2"}},
		{"an empty IPPoolList has no documents", "apiVersion: projectcalico.org/v3\nkind: IPPoolList\nitems: []\n", []string{}},
		{"documents after a list are numbered on from its items", `
kind: List
items:
- {apiVersion: projectcalico.org/v3, kind: Profile, metadata: {name: a}}
- {apiVersion: projectcalico.org/v3, kind: Profile, metadata: {name: b}}
---
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: c}
`, []string{"1 Profile a", "2 Profile b", "3 Profile c"}},
		{"a separator with trailing spaces and a comment splits documents",
			"apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: a}\n---   # next\napiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: b}\n",
			[]string{"1 Profile a", "2 Profile b"}},
		{"Windows line endings split documents too",
			"apiVersion: projectcalico.org/v3\r\nkind: Profile\r\nmetadata: {name: a}\r\n---\r\napiVersion: projectcalico.org/v3\r\nkind: Profile\r\nmetadata: {name: b}\r\n",
			[]string{"1 Profile a", "2 Profile b"}},
		{"a file starting with --- is read", "---\napiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: a}\n",
			[]string{"1 Profile a"}},
		{"a string containing --- inside a document does not split it", "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata:\n  name: a\n  annotations:\n    note: \"a --- b\"\n",
			[]string{"1 Profile a"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			docs, err := Decode([]byte(c.in))
			if err != nil {
				t.Fatalf("expected %q, got error: %v", c.want, err)
			}
			if got := summary(docs); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("expected %q, got %q", c.want, got)
			}
		})
	}
}

// decodeErrorCase expects Decode to fail on document index, of kind and name, with an error containing each of want.
type decodeErrorCase struct {
	name  string
	in    string
	index int
	kind  string
	rname string
	want  []string
}

func runDecodeErrors(t *testing.T, cases []decodeErrorCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var docs []Document
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("Decode panicked: %v", p)
					}
				}()
				docs, err = Decode([]byte(c.in))
			}()
			if err == nil {
				t.Fatalf("expected an error containing %q, got documents %q", c.want, summary(docs))
			}
			var de *DocumentError
			if !errors.As(err, &de) {
				t.Fatalf("expected a *DocumentError, got %T: %v", err, err)
			}
			if de.Index != c.index || de.Kind != c.kind || de.Name != c.rname {
				t.Fatalf("expected document %d (%q %q), got document %d (%q %q): %v", c.index, c.kind, c.rname, de.Index, de.Kind, de.Name, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("expected the error to contain %q, got: %v", w, err)
				}
			}
		})
	}
}

const v3pool = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: pool1\n"

func TestDecodeUnknownFields(t *testing.T) {
	runDecodeErrors(t, []decodeErrorCase{
		{"an unknown metadata field is named with its path", v3pool + "  foo: bar\nspec:\n  cidr: 10.0.0.0/16\n",
			1, "IPPool", "pool1", []string{"document 1 (IPPool 'pool1'): unknown field 'metadata.foo'"}},
		{"an unknown spec field is named with its path", v3pool + "spec:\n  cidr: 10.0.0.0/16\n  foo: 1\n",
			1, "IPPool", "pool1", []string{"unknown field 'spec.foo'"}},
		{"a field in the wrong case is unknown", v3pool + "spec:\n  CIDR: 10.0.0.0/16\n",
			1, "IPPool", "pool1", []string{"unknown field 'spec.CIDR'"}},
		{"the v1 field nat-outgoing in a v3 pool is unknown", v3pool + "spec:\n  cidr: 10.0.0.0/16\n  nat-outgoing: true\n",
			1, "IPPool", "pool1", []string{"unknown field 'spec.nat-outgoing'"}},
		{"an unknown top-level field is named", v3pool + "status: {}\nspec:\n  cidr: 10.0.0.0/16\n",
			1, "IPPool", "pool1", []string{"unknown field 'status'"}},
		{"an unknown field inside a rule's source is named with its full path", `
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: frontend}
spec:
  ingress:
  - action: Allow
    source:
      selector: has(web)
      foo: bar
`, 1, "Profile", "frontend", []string{"unknown field 'spec.ingress[0].source.foo'"}},
		{"an unknown field in the second egress rule's ICMP match is named", `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: icmp}
spec:
  egress:
  - action: Allow
  - action: Allow
    protocol: ICMP
    icmp: {type: 8, kode: 0}
`, 1, "GlobalNetworkPolicy", "icmp", []string{"unknown field 'spec.egress[1].icmp.kode'"}},
		{"an unknown field in a node's bgp section is named", `
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node1}
spec:
  bgp: {ipv4Address: 10.0.0.1/24, ipv4VXLANTunnelAddr: 10.0.0.2}
`, 1, "Node", "node1", []string{"unknown field 'spec.bgp.ipv4VXLANTunnelAddr'"}},
		{"an unknown field in the second item of a list is reported for that item", `
kind: List
items:
- {apiVersion: projectcalico.org/v3, kind: Profile, metadata: {name: a}}
- {apiVersion: projectcalico.org/v3, kind: Profile, metadata: {name: b}, spec: {foo: 1}}
`, 2, "Profile", "b", []string{"document 2 (Profile 'b'): unknown field 'spec.foo'"}},
		{"an unknown field in a failsafe port is named", `
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: default}
spec:
  failsafeInboundHostPorts: [{protocol: TCP, port: 22, cidr: 0.0.0.0/0}]
`, 1, "FelixConfiguration", "default", []string{"unknown field 'spec.failsafeInboundHostPorts[0].cidr'"}},
	})
}

func TestDecodeWrongTypes(t *testing.T) {
	runDecodeErrors(t, []decodeErrorCase{
		{"a block size that is not a number names the field and the types", v3pool + "spec:\n  cidr: 10.0.0.0/16\n  blockSize: \"abc\"\n",
			1, "IPPool", "pool1", []string{"error with field spec.blockSize: expected int, got a string"}},
		{"a block size with a fraction is rejected", v3pool + "spec:\n  cidr: 10.0.0.0/16\n  blockSize: 26.5\n",
			1, "IPPool", "pool1", []string{"error with field spec.blockSize"}},
		{"a quoted boolean is rejected", v3pool + "spec:\n  cidr: 10.0.0.0/16\n  natOutgoing: \"yes\"\n",
			1, "IPPool", "pool1", []string{"error with field spec.natOutgoing: expected bool, got a string"}},
		{"labels given as a list are rejected", "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: pool1\n  labels: [a, b]\nspec: {cidr: 10.0.0.0/16}\n",
			1, "IPPool", "pool1", []string{"error with field metadata.labels"}},
		{"a spec that is a string is rejected", v3pool + "spec: 10.0.0.0/16\n",
			1, "IPPool", "pool1", []string{"error with field spec"}},
		{"port 0 names the port's field", `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: web}
spec:
  egress:
  - action: Allow
  - action: Allow
    protocol: TCP
    destination: {ports: [80, 0]}
`, 1, "GlobalNetworkPolicy", "web", []string{"error with field spec.egress[1].destination.ports[1]: port 0 is invalid: port number must be between 1 and 65535"}},
		{"port 65536 names the port's field", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web, namespace: prod}
spec:
  ingress:
  - action: Allow
    protocol: UDP
    source: {notPorts: [65536]}
`, 1, "NetworkPolicy", "web", []string{"error with field spec.ingress[0].source.notPorts[0]: port 65536 is invalid"}},
		{"a reversed port range is rejected", `
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: p}
spec:
  ingress: [{action: Allow, protocol: TCP, destination: {ports: ["2000:1000"]}}]
`, 1, "Profile", "p", []string{"error with field spec.ingress[0].destination.ports[0]: port range \"2000:1000\" is invalid"}},
		{"a port range over 65535 is rejected", `
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: p}
spec:
  ingress: [{action: Allow, protocol: TCP, destination: {ports: ["1000:70000"]}}]
`, 1, "Profile", "p", []string{"spec.ingress[0].destination.ports[0]", "port range"}},
		{"an uppercase port name is rejected", `
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: p}
spec:
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [HTTP]}}]
`, 1, "Profile", "p", []string{"spec.ingress[0].destination.ports[0]", "not a number, a range or a valid port name"}},
		{"protocol number 256 names the field", `
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: p}
spec:
  egress: [{action: Allow, protocol: 256}]
`, 1, "Profile", "p", []string{"error with field spec.egress[0].protocol: protocol number 256 is out of range (1-255)"}},
		{"an unquoted dotted AS number asks for quotes", `
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor}
spec: {peerIP: 192.168.1.1, asNumber: 1.10}
`, 1, "BGPPeer", "tor", []string{"error with field spec.asNumber", "quoted dotted string like \"1.10\", not 1.1"}},
		{"a dotted AS number out of range names the field", `
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node1}
spec:
  bgp: {asNumber: "70000.1"}
`, 1, "Node", "node1", []string{"error with field spec.bgp.asNumber", "dotted form needs two numbers 0-65535"}},
		{"a duration that is not one names the field", `
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: default}
spec: {routeRefreshInterval: soon}
`, 1, "FelixConfiguration", "default", []string{"error with field spec.routeRefreshInterval: duration \"soon\" is invalid"}},
		{"a failsafe port that is negative is rejected", `
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: default}
spec:
  failsafeInboundHostPorts: [{protocol: TCP, port: -22}]
`, 1, "FelixConfiguration", "default", []string{"spec.failsafeInboundHostPorts.port", "uint16"}},
	})
}

func TestDecodeSeedEraManifests(t *testing.T) {
	cases := []struct {
		file string
		kind string
		name string
		hint string
	}{
		{"ippool.yaml", "ipPool", "", "spec.natOutgoing (was spec.nat-outgoing)"},
		{"profile.yaml", "profile", "frontend", "spec.labelsToApply (was metadata.tags/labels)"},
		{"policy.yaml", "policy", "allow-tcp-6379", "kind: GlobalNetworkPolicy"},
		{"bgppeer.yaml", "bgpPeer", "", "spec.peerIP (was metadata.peerIP)"},
		{"node.yaml", "node", "rack1-host1", "spec.bgp.ipv4Address"},
		{"hostendpoint.yaml", "hostEndpoint", "eth0", "spec.expectedIPs"},
		{"workloadendpoint.yaml", "workloadEndpoint", "eth0", "metadata.namespace"},
	}
	for _, c := range cases {
		t.Run("the pre-v3 "+c.kind+" manifest gets a hint about the v3 format", func(t *testing.T) {
			runDecodeErrors(t, []decodeErrorCase{{
				name:  c.file,
				in:    string(readTestdata(t, "seed-era/"+c.file)),
				index: 1, kind: c.kind, rname: c.name,
				want: []string{
					fmt.Sprintf("apiVersion 'v1' kind '%s' is the old (pre-v3) calicoctl format, which is not supported", c.kind),
					"write apiVersion: projectcalico.org/v3 with kind: ",
					c.hint,
				},
			}})
		})
	}
}

func TestDecodeVersionsAndKinds(t *testing.T) {
	doc := func(apiVersion, kind string) string {
		s := "metadata: {name: x}\n"
		if apiVersion != "" {
			s += "apiVersion: " + apiVersion + "\n"
		}
		if kind != "" {
			s += "kind: " + kind + "\n"
		}
		return s
	}
	runDecodeErrors(t, []decodeErrorCase{
		{"a v2 apiVersion is not supported", doc("projectcalico.org/v2", "IPPool"), 1, "IPPool", "x",
			[]string{"apiVersion 'projectcalico.org/v2' is not supported: write apiVersion: projectcalico.org/v3"}},
		{"a Kubernetes apiVersion is not supported", doc("crd.projectcalico.org/v1", "IPPool"), 1, "IPPool", "x",
			[]string{"apiVersion 'crd.projectcalico.org/v1' is not supported"}},
		{"apiVersion v1 with a v3 kind name gets the old-format hint", doc("v1", "IPPool"), 1, "IPPool", "x",
			[]string{"old (pre-v3) calicoctl format", "spec.ipipMode"}},
		{"a missing apiVersion on a v3 kind asks for the apiVersion", doc("", "IPPool"), 1, "IPPool", "x",
			[]string{"apiVersion is missing: write apiVersion: projectcalico.org/v3"}},
		{"a missing apiVersion on an old kind gets the old-format hint", doc("", "ipPool"), 1, "ipPool", "x",
			[]string{"old (pre-v3) calicoctl format"}},
		{"a missing apiVersion on an unknown kind asks for the apiVersion", doc("", "Widget"), 1, "Widget", "x",
			[]string{"apiVersion is missing"}},
		{"a missing kind is reported", doc(Group, ""), 1, "", "x", []string{"kind is missing"}},
		{"an unknown kind is reported", doc(Group, "Widget"), 1, "Widget", "x", []string{"kind 'Widget' is not known"}},
		{"a lowercase kind suggests the right spelling", doc(Group, "ippool"), 1, "ippool", "x",
			[]string{"kind 'ippool' is not known: did you mean 'IPPool'?"}},
		{"a plural kind suggests the right spelling", doc(Group, "NetworkPolicies"), 1, "NetworkPolicies", "x",
			[]string{"did you mean 'NetworkPolicy'?"}},
		{"a short alias as kind suggests the right spelling", doc(Group, "gnp"), 1, "gnp", "x",
			[]string{"did you mean 'GlobalNetworkPolicy'?"}},
		{"the error names the document it is in", v3pool + "spec: {cidr: 10.0.0.0/16}\n---\n" + doc(Group, "Bogus"), 2, "Bogus", "x",
			[]string{"document 2 (Bogus 'x'): kind 'Bogus' is not known"}},
	})
}

func TestDecodeMalformedInput(t *testing.T) {
	runDecodeErrors(t, []decodeErrorCase{
		{"a plain string is not a resource", "hello", 1, "", "", []string{"must be an object with apiVersion, kind, metadata and spec"}},
		{"a number is not a resource", "42", 1, "", "", []string{"must be an object"}},
		{"a list of numbers is not a list of resources", "[1, 2]", 1, "", "", []string{"must be an object"}},
		{"null is a resource without apiVersion", "null", 1, "", "", []string{"apiVersion is missing"}},
		{"YAML with a tab for indentation is reported", "kind: IPPool\nmetadata:\n\tname: x\n", 1, "", "", []string{"not valid YAML or JSON"}},
		{"a broken second document is reported as document 2", v3pool + "spec: {cidr: 10.0.0.0/16}\n---\nkind: [unclosed\n", 2, "", "", []string{"document 2: not valid YAML or JSON"}},
		{"an unclosed JSON object is reported", `{"kind": "IPPool"`, 1, "", "", []string{"not valid YAML or JSON"}},
		{"items that are not a list are reported", "kind: List\nitems: 5\n", 1, "", "", []string{"must be an object"}},
	})
}

func TestDocumentErrorText(t *testing.T) {
	inner := errors.New("boom")
	cases := []struct {
		e    DocumentError
		want string
	}{
		{DocumentError{Index: 3, Kind: "IPPool", Name: "p1", Err: inner}, "document 3 (IPPool 'p1'): boom"},
		{DocumentError{Index: 1, Kind: "IPPool", Err: inner}, "document 1 (IPPool): boom"},
		{DocumentError{Index: 2, Err: inner}, "document 2: boom"},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want {
			t.Errorf("expected %q, got %q", c.want, got)
		}
		if !errors.Is(&c.e, inner) {
			t.Errorf("expected %q to unwrap to the inner error", c.want)
		}
	}
}

func TestPrepareRejectsTheFileAtTheFirstInvalidDocument(t *testing.T) {
	docs, err := Decode(readTestdata(t, "manifests/three-pools-second-invalid.yaml"))
	if err != nil {
		t.Fatalf("expected the file to decode (it is well-formed), got: %v", err)
	}
	err = Prepare(docs, "")
	var de *DocumentError
	if !errors.As(err, &de) {
		t.Fatalf("expected a *DocumentError, got %T: %v", err, err)
	}
	if de.Index != 2 || de.Kind != "IPPool" || de.Name != "pool-b" {
		t.Fatalf("expected document 2 (IPPool pool-b), got document %d (%s %s)", de.Index, de.Kind, de.Name)
	}
	var ve ValidationError
	if !errors.As(err, &ve) || ve[0].Field != "spec.cidr" {
		t.Fatalf("expected a ValidationError on spec.cidr inside, got %v", err)
	}
	want := "document 2 (IPPool 'pool-b'): error with field spec.cidr = '10.0.1.0/33' (invalid CIDR)"
	if err.Error() != want {
		t.Fatalf("expected %q, got %q", want, err)
	}
}

func TestPrepareDefaultsAndValidates(t *testing.T) {
	docs, err := Decode(readTestdata(t, "manifests/cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Prepare(docs, ""); err != nil {
		t.Fatalf("expected the cluster manifest to be valid, got: %v", err)
	}
	pool := docs[0].Resource.(*IPPool)
	if pool.Spec.BlockSize != 26 || pool.Spec.VXLANMode != EncapNever || pool.Spec.NodeSelector != "all()" || pool.Spec.IPIPMode != EncapCrossSubnet {
		t.Errorf("expected the pool defaulted to blockSize 26, vxlanMode Never, nodeSelector all() and its ipipMode kept, got %+v", pool.Spec)
	}
	np := docs[3].Resource.(*NetworkPolicy)
	if !reflect.DeepEqual(np.Spec.Types, []PolicyType{PolicyTypeIngress}) {
		t.Errorf("expected the policy's types defaulted to [Ingress], got %v", np.Spec.Types)
	}
}

func TestPrepareNamespaces(t *testing.T) {
	np := func(ns string) string {
		s := "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: np1\n"
		if ns != "" {
			s += "  namespace: " + ns + "\n"
		}
		return s + "spec: {selector: all()}\n"
	}
	wep := "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata: {name: node1-cni-abc-eth0}\nspec: {node: node1, interfaceName: caliabc}\n"
	pool := v3pool + "spec: {cidr: 10.0.0.0/16}\n"
	poolNS := "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: pool1, namespace: team-a}\nspec: {cidr: 10.0.0.0/16}\n"
	cases := []struct {
		name    string
		in      string
		ns      string
		wantNS  string
		wantErr string
	}{
		{"a policy without a namespace goes to default", np(""), "", "default", ""},
		{"a policy without a namespace goes to the -n namespace", np(""), "team-a", "team-a", ""},
		{"a policy keeps its own namespace without -n", np("team-b"), "", "team-b", ""},
		{"a policy whose namespace matches -n is accepted", np("team-a"), "team-a", "team-a", ""},
		{"a policy whose namespace differs from -n is rejected", np("team-b"), "team-a", "",
			"document 1 (NetworkPolicy 'np1'): metadata.namespace 'team-b' differs from the namespace 'team-a' given on the command line"},
		{"a workload endpoint without a namespace goes to the -n namespace", wep, "team-a", "team-a", ""},
		{"-n does not give a cluster-scoped pool a namespace", pool, "team-a", "", ""},
		{"a namespace on a cluster-scoped kind is rejected", poolNS, "", "",
			"document 1 (IPPool 'pool1'): namespace should not be specified for a non-namespaced resource. IPPool is not a namespaced resource"},
		{"a namespace on a cluster-scoped kind is rejected with -n too", poolNS, "team-a", "",
			"namespace should not be specified for a non-namespaced resource. IPPool is not a namespaced resource"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			docs, err := Decode([]byte(c.in))
			if err != nil {
				t.Fatalf("expected the document to decode, got: %v", err)
			}
			err = Prepare(docs, c.ns)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("expected an error containing %q, got %v", c.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("expected no error, got: %v", err)
			}
			if got := docs[0].Resource.GetObjectMeta().Namespace; got != c.wantNS {
				t.Fatalf("expected namespace %q, got %q", c.wantNS, got)
			}
		})
	}
}

func TestPrepareOfAnEmptyFileIsNil(t *testing.T) {
	if err := Prepare(nil, "team-a"); err != nil {
		t.Fatalf("expected no error for no documents, got %v", err)
	}
}

// Calico's calicoctl reads a YAML boolean or number where a string belongs as its text; so does this one.
func TestDecodeScalarsWhereStringsBelong(t *testing.T) {
	cases := []struct {
		name, doc string
		want      map[string]string
	}{
		{"boolean label", "labels: {edge: true, spare: false}", map[string]string{"edge": "true", "spare": "false"}},
		{"number label", "labels: {rack: 1, weight: 2.5}", map[string]string{"rack": "1", "weight": "2.5"}},
		{"string labels unchanged", "labels: {rack: \"01\"}", map[string]string{"rack": "01"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			docs, err := Decode([]byte("apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: n1\n  " + c.doc + "\nspec: {}\n"))
			if err != nil {
				t.Fatalf("expected the node to decode, got: %v", err)
			}
			if got := docs[0].Resource.GetObjectMeta().Labels; !reflect.DeepEqual(got, c.want) {
				t.Fatalf("expected labels %v, got %v", c.want, got)
			}
		})
	}
	// A number where a boolean belongs is still refused: only strings take other scalars.
	if _, err := Decode([]byte(v3pool + "spec:\n  cidr: 10.0.0.0/16\n  natOutgoing: 1\n")); err == nil || !strings.Contains(err.Error(), "spec.natOutgoing") {
		t.Fatalf("expected natOutgoing: 1 to be refused naming the field, got %v", err)
	}
}
