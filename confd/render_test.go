package confd

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

const meshTemplate = `router id {{getv "/host/node1/ip_addr_v4"}};
{{range gets "/host/*/ip_addr_v4"}}{{$node := base (dir .Key)}}{{if ne $node "node1"}}protocol bgp Mesh_{{replace .Value "." "_" -1}} { neighbor {{.Value}} as {{getv (printf "/host/%s/as_num" $node) (getv "/global/as_num")}}; }
{{end}}{{end}}`

func TestRenderSeesOnlyTheSelectedKeysWithThePrefixStripped(t *testing.T) {
	res := &Resource{Name: "bird.toml", Src: "bird.cfg.template", Prefix: "/calico/bgp/v1", Keys: []string{"/host", "/global"}}
	tmpl, err := ParseTemplate(res.Src, meshTemplate)
	if err != nil {
		t.Fatal(err)
	}
	snapshot := map[string]string{
		"/calico/bgp/v1/global/as_num":          "64512",
		"/calico/bgp/v1/host/node1/ip_addr_v4":  "10.0.0.1",
		"/calico/bgp/v1/host/node2/ip_addr_v4":  "10.0.0.2",
		"/calico/bgp/v1/host/node3/ip_addr_v4":  "10.0.0.3",
		"/calico/bgp/v1/host/node3/as_num":      "65003",
		"/calico/v1/ipam/v4/pool/x":             "not selected",
		"/calico/bgp/v1/hosts/node9/ip_addr_v4": "not selected either",
	}
	got, err := Render(res, tmpl, snapshot)
	if err != nil {
		t.Fatal(err)
	}
	want := `router id 10.0.0.1;
protocol bgp Mesh_10_0_0_2 { neighbor 10.0.0.2 as 64512; }
protocol bgp Mesh_10_0_0_3 { neighbor 10.0.0.3 as 65003; }
`
	if string(got) != want {
		t.Errorf("Render =\n%s\nwant\n%s", got, want)
	}
}

func TestTemplateErrorsNameTheFileAndLine(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{name: "a parse error names file and line", text: "line one\n{{if}}\n", want: "bird.cfg.template:2"},
		{name: "an unknown function names file and line", text: "\n\n{{nosuchfunc}}", want: "bird.cfg.template:3"},
		{name: "an execution error names file, line and column", text: "ok\n  {{getv \"/missing\"}}", want: `bird.cfg.template:2:4: executing "bird.cfg.template" at <getv "/missing">`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := ParseTemplate("bird.cfg.template", tt.text)
			if err == nil {
				_, err = tmpl.Execute(nil)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v; want one containing %q", err, tt.want)
			}
		})
	}
}

func TestOneTemplateRendersDifferentViewsConcurrently(t *testing.T) {
	tmpl, err := ParseTemplate("t", `{{getv "/k"}}`)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprint(i)
			for range 50 {
				out, err := tmpl.Execute(map[string]string{"/k": want})
				if err != nil || string(out) != want {
					errs <- fmt.Errorf("render over /k=%s gave %q, %v", want, out, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
