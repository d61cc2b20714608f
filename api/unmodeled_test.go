package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// generic parses JSON keeping numbers exact, for comparing documents field by field.
func generic(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("parsing %s: %v", b, err)
	}
	return v
}

func TestUnmarshalThenMarshalKeepsWhatIsNotModeled(t *testing.T) {
	cases := []struct {
		name, kind, stored string
		paths              []string
	}{
		{"a document with only modeled fields", "IPPool",
			`{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"p"},"spec":{"cidr":"10.0.0.0/16"}}`, nil},
		{"unmodeled spec and metadata fields, numbers kept exactly", "IPPool",
			`{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"p","generation":12345678901234567890,"finalizers":["x"]},` +
				`"spec":{"cidr":"10.0.0.0/16","someNewField":{"a":[1,2.50,{"b":null}]}}}`,
			[]string{"metadata.finalizers", "metadata.generation", "spec.someNewField"}},
		{"unmodeled fields inside list items keep their item", "GlobalNetworkPolicy",
			`{"kind":"GlobalNetworkPolicy","apiVersion":"projectcalico.org/v3","metadata":{"name":"g"},"spec":{"selector":"all()",` +
				`"ingress":[{"action":"Allow"},{"action":"Deny","http":{"methods":["GET"]},"source":{"serviceAccounts":{"names":["a"]}}}]}}`,
			[]string{"spec.ingress[1].http", "spec.ingress[1].source.serviceAccounts"}},
		{"unmodeled fields inside map values", "Node",
			`{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{"name":"n"},"spec":{"bgp":{"ipv4Address":"10.0.0.1/24","futureField":true}},` +
				`"status":{"podCIDRs":["10.1.0.0/24"]}}`,
			[]string{"spec.bgp.futureField", "status"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := LookupKind(c.kind)
			if err != nil {
				t.Fatal(err)
			}
			r := k.New()
			if err := Unmarshal([]byte(c.stored), r); err != nil {
				t.Fatalf("expected the stored document to be read, got %v", err)
			}
			if got := r.GetObjectMeta().Unmodeled.Paths(); !reflect.DeepEqual(got, c.paths) {
				t.Errorf("expected unmodeled paths %v, got %v", c.paths, got)
			}
			out, err := Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if want, got := generic(t, []byte(c.stored)), generic(t, out); !reflect.DeepEqual(want, got) {
				t.Errorf("expected the document back as stored:\nwant %s\n got %s", c.stored, out)
			}
		})
	}
}

// An edit of a modeled field changes that field and keeps the rest; a modeled object that is gone still gives
// back what it held beyond the type: nothing another writer stored is dropped.
func TestMarshalAfterAnEdit(t *testing.T) {
	stored := `{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{"name":"p"},` +
		`"spec":{"peerIP":"10.0.0.1","asNumber":65001,"newKnob":"on","filters":["f"]}}`
	r := &BGPPeer{}
	if err := Unmarshal([]byte(stored), r); err != nil {
		t.Fatal(err)
	}
	r.Spec.PeerIP = "10.0.0.2"
	out, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got := generic(t, out).(map[string]any)["spec"].(map[string]any)
	if got["peerIP"] != "10.0.0.2" || got["newKnob"] != "on" {
		t.Errorf("expected the new peerIP beside the kept newKnob, got %v", got)
	}

	n := &Node{}
	if err := Unmarshal([]byte(`{"metadata":{"name":"n"},"spec":{"bgp":{"ipv4Address":"10.0.0.1/24","futureField":true}}}`), n); err != nil {
		t.Fatal(err)
	}
	n.Spec.BGP = nil
	out, err = Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"bgp":{"futureField":true}`) {
		t.Errorf("expected the removed bgp section to keep its unmodeled field, got %s", out)
	}
}

func TestUnmodeledPathsOfNothing(t *testing.T) {
	var u *Unmodeled
	if p := u.Paths(); p != nil {
		t.Fatalf("expected no paths, got %v", p)
	}
}

// In a manifest, a field Calico's API defines but this project does not model is kept to be stored; a field
// neither defines is a typo and an error naming it.
func TestDecodeKeepsCalicoFieldsAndRefusesTypos(t *testing.T) {
	docs, err := Decode([]byte("apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: default}\n" +
		"spec: {logSeverityScreen: Info, bpfEnabled: false, nftablesMode: Disabled}\n"))
	if err != nil {
		t.Fatalf("expected Calico's fields to be accepted, got %v", err)
	}
	r := docs[0].Resource
	if got, want := r.GetObjectMeta().Unmodeled.Paths(), []string{"spec.bpfEnabled", "spec.nftablesMode"}; !reflect.DeepEqual(got, want) {
		t.Errorf("expected unmodeled %v, got %v", want, got)
	}
	out, err := Marshal(r)
	if err != nil || !strings.Contains(string(out), `"bpfEnabled":false`) || !strings.Contains(string(out), `"nftablesMode":"Disabled"`) {
		t.Errorf("expected the fields to be written as given, got %s (%v)", out, err)
	}
	_, err = Decode([]byte("apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: default}\nspec: {bpfEnabledd: false}\n"))
	if err == nil || !strings.Contains(err.Error(), "unknown field 'spec.bpfEnabledd'") {
		t.Errorf("expected the typo to be refused naming it, got %v", err)
	}
}

// Unmarshal decodes once when the type models every field, and falls back to the generic decode otherwise: both
// ways give exactly what the generic decode alone gives, errors included.
func TestUnmarshalDecodesOnceWithTheSameResultAsTheGenericDecode(t *testing.T) {
	pool := `{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"p","labels":{"a":"b"}},"spec":{"cidr":"10.0.0.0/16","blockSize":26}}`
	gnp := `{"kind":"GlobalNetworkPolicy","apiVersion":"projectcalico.org/v3","metadata":{"name":"g"},"spec":{"selector":"all()",` +
		`"ingress":[{"action":"Allow","protocol":"TCP","destination":{"ports":[80,"1000:2000"]}},{"action":"Deny","http":{"methods":["GET"]}}]}}`
	cases := []struct{ name, kind, stored string }{
		{"only modeled fields", "IPPool", pool},
		{"an unmodeled field in spec", "IPPool", strings.Replace(pool, `"blockSize":26`, `"blockSize":26,"futureField":[1,2.50]`, 1)},
		{"an unmodeled field in a list item", "GlobalNetworkPolicy", gnp},
		{"an unmodeled field at the root", "IPPool", strings.Replace(pool, `{"kind"`, `{"status":{"x":1},"kind"`, 1)},
		{"a map of labels, all modeled", "Profile", `{"kind":"Profile","apiVersion":"projectcalico.org/v3","metadata":{"name":"p"},"spec":{"labelsToApply":{"x":"y"}}}`},
		{"a value of the wrong type", "IPPool", strings.Replace(pool, `"blockSize":26`, `"blockSize":"big"`, 1)},
		{"a scalar that its own decoder refuses", "GlobalNetworkPolicy", strings.Replace(gnp, `"protocol":"TCP"`, `"protocol":"nope"`, 1)},
		{"data after the object", "IPPool", pool + ` {}`},
		{"whitespace after the object", "IPPool", pool + " \n"},
		{"not JSON", "IPPool", `{"kind":`},
		{"null", "IPPool", `null`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := LookupKind(c.kind)
			if err != nil {
				t.Fatal(err)
			}
			once, generic := k.New(), k.New()
			errOnce := Unmarshal([]byte(c.stored), once)
			errGeneric := unmarshalKeeping([]byte(c.stored), generic)
			if (errOnce == nil) != (errGeneric == nil) {
				t.Fatalf("Unmarshal returned %v, the generic decode %v", errOnce, errGeneric)
			}
			if errOnce == nil && !reflect.DeepEqual(once, generic) {
				t.Errorf("Unmarshal gave %+v, the generic decode %+v", once, generic)
			}
		})
	}
}
