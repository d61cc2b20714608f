package installcni

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// calicoTemplate is the seed-era etcd manifest's config, with every placeholder install-cni knows.
const calicoTemplate = `{
  "name": "k8s-pod-network",
  "cniVersion": "0.3.1",
  "plugins": [
    {
      "type": "calico",
      "log_level": "__LOG_LEVEL__",
      "datastore_type": "__DATASTORE_TYPE__",
      "etcd_endpoints": "__ETCD_ENDPOINTS__",
      "etcd_key_file": "__ETCD_KEY_FILE__",
      "etcd_cert_file": "__ETCD_CERT_FILE__",
      "etcd_ca_cert_file": "__ETCD_CA_CERT_FILE__",
      "mtu": __CNI_MTU__,
      "nodename": "__KUBERNETES_NODE_NAME__",
      "ipam": {"type": "calico-ipam"},
      "policy": {"type": "k8s", "k8s_api_root": "https://__KUBERNETES_SERVICE_HOST__:__KUBERNETES_SERVICE_PORT__",
                 "k8s_auth_token": "__SERVICEACCOUNT_TOKEN__"},
      "kubernetes": {"kubeconfig": "__KUBECONFIG_FILEPATH__", "kubeconfig_name": "__KUBECONFIG_FILENAME__"}
    }
  ]
}`

var someValues = Values{
	ServiceHost: "10.96.0.1", ServicePort: "443", Token: "tok.en-_value",
	KubeconfigPath: "/etc/cni/net.d/calico-kubeconfig", EtcdEndpoints: "http://10.0.0.1:2379",
	EtcdCACertFile: "/etc/cni/net.d/calico-tls/etcd-ca", MTU: 1440, NodeName: "node-1", LogLevel: "info",
	DatastoreType: "etcdv3",
}

func TestRenderReplacesEveryPlaceholder(t *testing.T) {
	nc, err := Render(calicoTemplate, someValues)
	if err != nil {
		t.Fatal(err)
	}
	if !nc.IsList || !nc.HasToken {
		t.Errorf("IsList=%v HasToken=%v, want both true", nc.IsList, nc.HasToken)
	}
	var doc struct {
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(nc.Bytes, &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Plugins[0]
	want := map[string]any{
		"log_level": "info", "datastore_type": "etcdv3", "etcd_endpoints": "http://10.0.0.1:2379",
		"etcd_key_file": "", "etcd_cert_file": "", "etcd_ca_cert_file": "/etc/cni/net.d/calico-tls/etcd-ca",
		"mtu": float64(1440), "nodename": "node-1",
		"policy":     map[string]any{"type": "k8s", "k8s_api_root": "https://10.96.0.1:443", "k8s_auth_token": "tok.en-_value"},
		"kubernetes": map[string]any{"kubeconfig": "/etc/cni/net.d/calico-kubeconfig", "kubeconfig_name": "calico-kubeconfig"},
	}
	for k, v := range want {
		if !reflect.DeepEqual(p[k], v) {
			t.Errorf("%s: got %#v, want %#v", k, p[k], v)
		}
	}
	if strings.Contains(nc.Redacted, "tok.en") || !strings.Contains(nc.Redacted, `"k8s_auth_token":"<redacted>"`) {
		t.Errorf("the logged config must show the token redacted, got %s", nc.Redacted)
	}
	if strings.Contains(nc.Redacted, "\n") {
		t.Errorf("the logged config must be one line, got %q", nc.Redacted)
	}
}

func TestRenderEscapesValues(t *testing.T) {
	v := someValues
	v.NodeName = `odd"name\`
	nc, err := Render(`{"name":"n","type":"calico","nodename":"__KUBERNETES_NODE_NAME__"}`, v)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(nc.Bytes, &got); err != nil || got["nodename"] != v.NodeName {
		t.Errorf("got %v (%v), want nodename %q intact", got, err, v.NodeName)
	}
}

func TestRenderRefusesBadConfigs(t *testing.T) {
	cases := []struct {
		name, template, want string
	}{
		{"a placeholder install-cni does not know",
			`{"name":"n","plugins":[{"type":"calico","etcd_discovery_srv":"__ETCD_DISCOVERY_SRV__"}]}`,
			"unknown placeholder __ETCD_DISCOVERY_SRV__"},
		{"an unknown unquoted placeholder is named rather than reported as bad JSON",
			`{"name":"n","plugins":[{"type":"calico","mtu":__VETH_MTU__}]}`, "unknown placeholder __VETH_MTU__"},
		{"not JSON", "{\n  \"name\": \"n\",\n  \"plugins\": [{\"type\": \"calico\",}]\n}",
			`not valid JSON at byte 50 (line 3 column 33, after replacing placeholders: "\"plugins\": [{\"type\": \"calico\",}]")`},
		{"a plugin without a type", `{"name":"n","cniVersion":"0.3.1","plugins":[{"ipam":{"type":"calico-ipam"}}]}`,
			"plugins[0].type is missing"},
		{"a second plugin with an empty type", `{"name":"n","plugins":[{"type":"calico"},{"type":" "}]}`, "plugins[1].type is empty"},
		{"a plugin that is not an object", `{"name":"n","plugins":["calico"]}`, "plugins[0] must be an object, got a string"},
		{"plugins that are not a list", `{"name":"n","plugins":{"type":"calico"}}`, "plugins must be a list, got an object"},
		{"an empty plugin list", `{"name":"n","plugins":[]}`, "plugins is empty"},
		{"a list without a name", `{"cniVersion":"0.3.1","plugins":[{"type":"calico"}]}`, "name is missing"},
		{"a name that is not a string", `{"name":7,"plugins":[{"type":"calico"}]}`, "name must be a string, got a number"},
		{"a cniVersion that is not a version", `{"name":"n","cniVersion":"latest","plugins":[{"type":"calico"}]}`, `cniVersion "latest" is not a version`},
		{"a flag that is not a boolean", `{"name":"n","disableCheck":"yes","plugins":[{"type":"calico"}]}`, `disableCheck must be true or false`},
		{"capabilities of the wrong type", `{"name":"n","plugins":[{"type":"portmap","capabilities":{"portMappings":"yes"}}]}`,
			"plugins[0].capabilities: got a JSON string where a bool is expected"},
		{"neither a list nor a plugin", `{"name":"n","cniVersion":"0.3.1"}`, `neither a configuration list (no "plugins") nor a single plugin configuration (no "type")`},
		{"not an object", `["calico"]`, "not a JSON object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Render(c.template, someValues)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestRenderErrorsNeverShowTheToken(t *testing.T) {
	_, err := Render(`{"name":"n","token":"__SERVICEACCOUNT_TOKEN__", oops}`, someValues)
	if err == nil || strings.Contains(err.Error(), someValues.Token) {
		t.Errorf("got %v, want an error without the token", err)
	}
}

func TestRenderAcceptsASinglePluginConf(t *testing.T) {
	nc, err := Render(`{"cniVersion":"0.3.1","name":"test-calico","type":"calico","ipam":{"type":"calico-ipam"}}`, someValues)
	if err != nil || nc.IsList || nc.HasToken {
		t.Errorf("got %+v, %v; want a single conf without the token", nc, err)
	}
}

func TestPlaceholdersIn(t *testing.T) {
	got := PlaceholdersIn(calicoTemplate + ` "__LOG_LEVEL__" __not_one__ ___ __X__`)
	if !reflect.DeepEqual(got, []string{
		"__LOG_LEVEL__", "__DATASTORE_TYPE__", "__ETCD_ENDPOINTS__", "__ETCD_KEY_FILE__", "__ETCD_CERT_FILE__",
		"__ETCD_CA_CERT_FILE__", "__CNI_MTU__", "__KUBERNETES_NODE_NAME__", "__KUBERNETES_SERVICE_HOST__",
		"__KUBERNETES_SERVICE_PORT__", "__SERVICEACCOUNT_TOKEN__", "__KUBECONFIG_FILEPATH__", "__KUBECONFIG_FILENAME__",
	}) {
		t.Errorf("got %v", got)
	}
	// The template above uses every placeholder, so this also checks that Placeholders lists no name Render
	// does not replace.
	if len(got) != len(Placeholders) {
		t.Errorf("the test template uses %d placeholders, Placeholders has %d", len(got), len(Placeholders))
	}
}

func TestConfFileName(t *testing.T) {
	cases := []struct {
		name     string
		confName string
		isList   bool
		want     string
		wrap     bool
		err      string
	}{
		{"a list by default is a .conflist", "", true, "10-calico.conflist", false, ""},
		{"a single plugin by default is a .conf", "", false, "10-calico.conf", false, ""},
		{"a list under the name asked for", "20-calico.conflist", true, "20-calico.conflist", false, ""},
		{"a single plugin under a .conflist name is wrapped", "10-calico.conflist", false, "10-calico.conflist", true, ""},
		{"a single plugin under a .json name", "10-calico.json", false, "10-calico.json", false, ""},
		{"a list under a .conf name is refused", "10-calico.conf", true, "", false, "name it .conflist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, wrap, err := ConfFileName(c.confName, c.isList)
			if got != c.want || wrap != c.wrap || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
				t.Errorf("got %q wrap=%v err=%v; want %q wrap=%v err containing %q", got, wrap, err, c.want, c.wrap, c.err)
			}
		})
	}
}

func TestWrapInListKeepsNameAndVersion(t *testing.T) {
	out, err := wrapInList([]byte(`{"cniVersion":"0.3.1","name":"test-calico","type":"calico"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkShape(out); err != nil {
		t.Errorf("the wrapped list is not a valid list: %v\n%s", err, out)
	}
	var l struct {
		Name, CNIVersion string
		Plugins          []map[string]any
	}
	if err := json.Unmarshal(out, &l); err != nil || l.Name != "test-calico" || l.CNIVersion != "0.3.1" || len(l.Plugins) != 1 || l.Plugins[0]["type"] != "calico" {
		t.Errorf("got %+v (%v)", l, err)
	}
}
