package controllers

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/api"
)

func TestEnvFromLookup(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    func(Env) bool
		wantErr string
	}{
		{"defaults are Calico's", nil, func(e Env) bool {
			return slices.Equal(e.Enabled, All) && e.ResyncPeriod == 5*time.Minute && e.LeakGracePeriod == 15*time.Minute &&
				e.StatusFile == "/status/status.json" && e.LogLevel == "info"
		}, ""},
		{"a subset of controllers, with spaces and repeats", map[string]string{"ENABLED_CONTROLLERS": "node, policy,node"},
			func(e Env) bool { return slices.Equal(e.Enabled, []string{"node", "policy"}) }, ""},
		{"periods as Go durations", map[string]string{"RECONCILER_PERIOD": "30s", "LEAK_GRACE_PERIOD": "0"},
			func(e Env) bool { return e.ResyncPeriod == 30*time.Second && e.LeakGracePeriod == 0 }, ""},
		{"an unknown controller is named", map[string]string{"ENABLED_CONTROLLERS": "policy,flannelmigration"}, nil,
			`ENABLED_CONTROLLERS: unknown controller "flannelmigration"`},
		{"an empty controller list", map[string]string{"ENABLED_CONTROLLERS": " , "}, nil, "ENABLED_CONTROLLERS: no controller named"},
		{"a period that is not a duration", map[string]string{"RECONCILER_PERIOD": "5"}, nil, `RECONCILER_PERIOD: "5" is not a duration`},
		{"a zero resync period", map[string]string{"RECONCILER_PERIOD": "0s"}, nil, `RECONCILER_PERIOD: "0s" must be positive`},
		{"a negative grace period", map[string]string{"LEAK_GRACE_PERIOD": "-1m"}, nil, `LEAK_GRACE_PERIOD: "-1m" must be positive`},
		{"on the Kubernetes datastore only the node controller runs", map[string]string{"DATASTORE_TYPE": "kubernetes"},
			func(e Env) bool { return e.KubernetesDatastore && slices.Equal(e.Enabled, []string{Node}) }, ""},
		{"a mirroring controller on the Kubernetes datastore is refused", map[string]string{"DATASTORE_TYPE": "kubernetes",
			"ENABLED_CONTROLLERS": "node,policy"}, nil, `ENABLED_CONTROLLERS: "policy" has nothing to do with DATASTORE_TYPE=kubernetes`},
		{"an unknown datastore type", map[string]string{"DATASTORE_TYPE": "consul"}, nil, `DATASTORE_TYPE: "consul" is not a datastore type`},
		{"an unknown log level", map[string]string{"LOG_LEVEL": "chatty"}, nil, `LOG_LEVEL: "chatty"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := EnvFromLookup(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want error containing %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil || !tt.want(e) {
				t.Fatalf("got %+v, %v", e, err)
			}
		})
	}
}

func TestCheckStatus(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "status.json")
	now := time.Now()
	if err := CheckStatus(path, false, now); err == nil {
		t.Fatal("a missing status file must fail the liveness check")
	}
	if err := writeStatus(path, Status{Ready: false, Controllers: map[string]string{"node": "syncing"}, Updated: now}); err != nil {
		t.Fatal(err)
	}
	if err := CheckStatus(path, false, now); err != nil {
		t.Errorf("live but not ready: liveness must pass: %v", err)
	}
	if err := CheckStatus(path, true, now); err == nil || !strings.Contains(err.Error(), "node:syncing") {
		t.Errorf("not ready: readiness must fail naming the controller, got %v", err)
	}
	writeStatus(path, Status{Ready: true, Updated: now})
	if err := CheckStatus(path, true, now); err != nil {
		t.Errorf("ready: %v", err)
	}
	if err := CheckStatus(path, false, now.Add(time.Minute)); err == nil || !strings.Contains(err.Error(), "last written") {
		t.Errorf("a status not rewritten for a minute must fail liveness, got %v", err)
	}
	os.WriteFile(path, []byte("{"), 0o644)
	if err := CheckStatus(path, false, now); err == nil {
		t.Error("a corrupt status must fail")
	}
}

func TestSameContentComparesLabelsAndSpecOnly(t *testing.T) {
	a := &api.Profile{ObjectMeta: api.ObjectMeta{Name: "kns.prod", ResourceVersion: "5", UID: "u1", Labels: map[string]string{"x": "1"}},
		Spec: api.ProfileSpec{LabelsToApply: map[string]string{"pcns.team": "db"}, Ingress: []api.Rule{}}}
	b := &api.Profile{ObjectMeta: api.ObjectMeta{Name: "kns.prod", Labels: map[string]string{"x": "1"}},
		Spec: api.ProfileSpec{LabelsToApply: map[string]string{"pcns.team": "db"}}}
	if !sameContent(a, b) {
		t.Error("identity fields and an empty versus missing list must not count as a difference")
	}
	b.Spec.LabelsToApply["pcns.team"] = "web"
	if sameContent(a, b) {
		t.Error("a changed labelsToApply value must count")
	}
	b.Spec.LabelsToApply["pcns.team"] = "db"
	b.Labels = nil
	if sameContent(a, b) {
		t.Error("changed labels must count")
	}
}
