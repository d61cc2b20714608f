package confd

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"text/template"
)

const benchNodes = 1000

// benchSnapshot is a key view of benchNodes nodes as the Calico backend would build it, plus keys of other
// resources that the BIRD resource does not read.
func benchSnapshot() map[string]string {
	kv := map[string]string{
		"/calico/bgp/v1/global/as_num":    "64512",
		"/calico/bgp/v1/global/node_mesh": `{"enabled":true}`,
		"/calico/bgp/v1/global/loglevel":  "info",
	}
	for i := range benchNodes {
		h := fmt.Sprintf("/calico/bgp/v1/host/node%d/", i)
		ip := fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256+1)
		kv[h+"ip_addr_v4"] = ip
		kv[h+"ip_addr_v6"] = ""
		kv[h+"network_v4"] = ip + "/16"
		kv[h+"rr_cluster_id"] = ""
		if i%10 == 0 {
			kv[h+"as_num"] = fmt.Sprint(65000 + i)
		}
		kv[fmt.Sprintf("/calico/ipam/v2/host/node%d/ipv4/block/10.%d.0.0-26", i, i%256)] = `{"state":"confirmed"}`
	}
	return kv
}

const benchTemplate = `router id {{getv "/host/node0/ip_addr_v4"}};
{{range gets "/host/*/ip_addr_v4"}}{{$node := base (dir .Key)}}{{if ne $node "node0"}}protocol bgp Mesh_{{replace .Value "." "_" -1}} from bgp_template { neighbor {{.Value}} as {{getv (printf "/host/%s/as_num" $node) (getv "/global/as_num")}}; }
{{end}}{{end}}`

// plainTemplate prints the same text from a Go map of node → fields: the floor for rendering this output
// with text/template.
const plainTemplate = `router id {{(index . "node0").ip_addr_v4}};
{{range $node, $f := .}}{{if ne $node "node0"}}protocol bgp Mesh_{{replace $f.ip_addr_v4 "." "_" -1}} from bgp_template { neighbor {{$f.ip_addr_v4}} as {{or $f.as_num "64512"}}; }
{{end}}{{end}}`

func benchResource(b *testing.B) (*Resource, *Template, map[string]string) {
	res := &Resource{Name: "bird.toml", Src: "bird.cfg.template", Prefix: "/calico/bgp/v1", Keys: []string{"/host", "/global"}}
	tmpl, err := ParseTemplate(res.Src, benchTemplate)
	if err != nil {
		b.Fatal(err)
	}
	return res, tmpl, benchSnapshot()
}

// BenchmarkRender is a full render: select the resource's keys from the whole snapshot, build the store,
// execute.
func BenchmarkRender(b *testing.B) {
	res, tmpl, snap := benchResource(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(res, tmpl, snap); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExecute is a render of an already selected view (what the engine skips when the view is
// unchanged is the Execute; Select it always does).
func BenchmarkExecute(b *testing.B) {
	res, tmpl, snap := benchResource(b)
	view := res.Select(snap)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Execute(view); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlainTemplate renders the same output with text/template straight from an in-memory map.
func BenchmarkPlainTemplate(b *testing.B) {
	res, tmpl, snap := benchResource(b)
	want, err := Render(res, tmpl, snap)
	if err != nil {
		b.Fatal(err)
	}
	nodes := map[string]map[string]string{}
	for k, v := range snap {
		rest, ok := strings.CutPrefix(k, "/calico/bgp/v1/host/")
		if !ok {
			continue
		}
		node, field, _ := strings.Cut(rest, "/")
		if nodes[node] == nil {
			nodes[node] = map[string]string{}
		}
		nodes[node][field] = v
	}
	plain := template.Must(template.New("plain").Funcs(template.FuncMap{"replace": strings.Replace}).Parse(plainTemplate))
	var buf bytes.Buffer
	if err := plain.Execute(&buf, nodes); err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		b.Fatalf("the plain template's output differs from Render's; the comparison would be unfair")
	}
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := plain.Execute(&buf, nodes); err != nil {
			b.Fatal(err)
		}
	}
}
