package api

import (
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkUnmarshalStoredEndpoint is what every watcher pays per WorkloadEndpoint it is sent: Unmarshal of a
// stored endpoint, beside a plain encoding/json decode of the same bytes (the floor) and the generic decode that
// Unmarshal falls back to when an object holds fields its type lacks.
func BenchmarkUnmarshalStoredEndpoint(b *testing.B) {
	wep := &WorkloadEndpoint{TypeMeta: TypeMeta{Kind: "WorkloadEndpoint", APIVersion: "projectcalico.org/v3"},
		ObjectMeta: ObjectMeta{Name: "node1-k8s-pod--1-eth0", Namespace: "prod", ResourceVersion: "1234",
			Labels: map[string]string{"app": "web", "projectcalico.org/namespace": "prod", "projectcalico.org/orchestrator": "k8s"}},
		Spec: WorkloadEndpointSpec{Orchestrator: "k8s", Node: "node1", Pod: "pod-1", Endpoint: "eth0", ContainerID: "abc123",
			InterfaceName: "cali0123456789a", MAC: "ee:ee:ee:ee:ee:ee", IPNetworks: []string{"10.65.0.1/32"},
			Profiles: []string{"kns.prod", "ksa.prod.default"}}}
	stored, err := json.Marshal(wep)
	if err != nil {
		b.Fatal(err)
	}
	var once, floor, generic time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := Unmarshal(stored, &WorkloadEndpoint{}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := json.Unmarshal(stored, &WorkloadEndpoint{}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := unmarshalKeeping(stored, &WorkloadEndpoint{}); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		once, floor, generic = once+t1.Sub(t0), floor+t2.Sub(t1), generic+t3.Sub(t2)
	}
	n := float64(b.N)
	b.ReportMetric(float64(once.Nanoseconds())/n, "unmarshal-ns")
	b.ReportMetric(float64(floor.Nanoseconds())/n, "json-floor-ns")
	b.ReportMetric(float64(generic.Nanoseconds())/n, "generic-ns")
}
