package api

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode and Prepare. Neither may panic, and every valid resource must be
// written to JSON that decodes, validates and is written again to the same JSON.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		"",
		"---\n",
		"# comment only\n",
		v3pool + "spec:\n  cidr: 10.0.0.0/16\n  blockSize: 26\n  ipipMode: Always\n",
		"apiVersion: projectcalico.org/v3\nkind: IPPoolList\nitems:\n- {apiVersion: projectcalico.org/v3, kind: IPPool, metadata: {name: a}, spec: {cidr: 10.0.0.0/16}}\n",
		"kind: List\nitems: [{apiVersion: projectcalico.org/v3, kind: Profile, metadata: {name: p}}]\n---\nkind: List\nitems: []\n",
		`[{"apiVersion":"projectcalico.org/v3","kind":"BGPPeer","metadata":{"name":"p"},"spec":{"peerIP":"10.0.0.1","asNumber":"1.10"}}]`,
		"apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: g}\nspec:\n  preDNAT: true\n  applyOnForward: true\n" +
			"  ingress: [{action: Allow, protocol: TCP, source: {nets: [10.0.0.0/8], ports: [80, \"1000:2000\", http]}, destination: {notPorts: [0]}}]\n",
		"apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: n, namespace: ns}\nspec: {types: [Ingress, Ingress], egress: [{action: Deny, protocol: ICMP, icmp: {type: 8, code: 0}}]}\n",
		"apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: default}\nspec: {routeRefreshInterval: 90s, failsafeInboundHostPorts: [{protocol: TCP, port: 22}], iptablesMarkMask: 4294901760}\n",
		"apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata: {name: w}\nspec: {node: n, ipNetworks: [10.0.0.1/32], ports: [{name: http, protocol: TCP, port: 80}]}\n",
		"apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n}\nspec: {bgp: {}}\n",
		"- apiVersion: v1\n  kind: ipPool\n  metadata:\n    cidr: 10.91.1.0/24\n  spec:\n    ipip:\n      enabled: true\n    nat-outgoing: true\n",
		"apiVersion: projectcalico.org/v3\nkind: ippool\n",
		"a: &a [*a, *a]\n",
		"{\"kind\": \"IPPool\"",
		"apiVersion: projectcalico.org/v3\r\nkind: Profile\r\nmetadata: {name: a}\r\n---\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Decode(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("an error without text for input %q", data)
			}
			return
		}
		if err := Prepare(docs, "fuzz"); err != nil {
			return
		}
		// Valid resources are what gets stored, so they must survive being written and read back.
		for _, d := range docs {
			js, err := json.Marshal(d.Resource)
			if err != nil {
				t.Fatalf("a valid %T does not marshal: %v", d.Resource, err)
			}
			again, err := Decode(js)
			if err != nil || len(again) != 1 {
				t.Fatalf("the JSON of a valid resource does not decode again (%v):\n%s", err, js)
			}
			if err := Prepare(again, "fuzz"); err != nil {
				t.Fatalf("a valid resource is invalid after a round trip (%v):\n%s", err, js)
			}
			js2, err := json.Marshal(again[0].Resource)
			if err != nil || !bytes.Equal(js, js2) {
				t.Fatalf("JSON changed on a round trip:\n%s\n%s", js, js2)
			}
		}
	})
}
