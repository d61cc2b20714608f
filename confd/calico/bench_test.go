package calico

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/confd"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/internal/etcdtest"
)

// BenchmarkWriteToReload measures, for a mesh of N nodes, the time from writing one more Node to etcd until
// confd has replaced bird.cfg and run its reload command. The reload command only appends to a file, so the
// figure is confd's own latency (watch, key view, render, check with the real `bird -p`, rename, reload).
func BenchmarkWriteToReload(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) { benchWriteToReload(b, n) })
	}
}

func benchWriteToReload(b *testing.B, n int) {
	ds, err := datastore.New(datastore.Config{Endpoints: []string{etcdtest.Start(b)}})
	if err != nil {
		b.Fatal(err)
	}
	defer ds.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writeNode := func(i int) {
		node := &api.Node{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("node%d", i)},
			Spec: api.NodeSpec{BGP: &api.NodeBGPSpec{IPv4Address: fmt.Sprintf("10.%d.%d.%d/16", i/65536, (i/256)%256, i%256+1)}}}
		if _, err := ds.Create(ctx, node); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		writeNode(i)
	}
	dir := b.TempDir()
	reloads := filepath.Join(dir, "reloads")
	confDir := shippedConfWithReload(b, dir, "echo x >> "+reloads)
	startConfd(b, ctx, cancel, ds, confDir, dir)
	count := func() int { s, _ := os.ReadFile(reloads); return strings.Count(string(s), "x") }
	waitFor(b, func() bool { return count() > 0 })
	// 20 samples per iteration, so that `-benchtime 1x` (as make bench runs it) still gives percentiles.
	const samples = 20
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < samples; j++ {
			before := count()
			start := time.Now()
			writeNode(n + i*samples + j)
			waitFor(b, func() bool { return count() > before })
			lat = append(lat, time.Since(start))
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkBurstOf1000Writes counts the renders confd performs for 1000 Node writes made as fast as etcd takes
// them (32 writers at once). A burst that lasts longer than MaxDelay (250ms) renders about four times a second.
func BenchmarkBurstOf1000Writes(b *testing.B) {
	ds, err := datastore.New(datastore.Config{Endpoints: []string{etcdtest.Start(b)}})
	if err != nil {
		b.Fatal(err)
	}
	defer ds.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	self := &api.Node{ObjectMeta: api.ObjectMeta{Name: "node0"}, Spec: api.NodeSpec{BGP: &api.NodeBGPSpec{IPv4Address: "10.99.0.1/16"}}}
	if _, err := ds.Create(ctx, self); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	confDir := shippedConfWithReload(b, dir, "true")
	eng := startConfd(b, ctx, cancel, ds, confDir, dir)
	waitFor(b, func() bool { return eng.Stats().Renders > 0 })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before := eng.Stats().Renders
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := w; j < 1000; j += 32 {
					node := &api.Node{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("burst%d-%d", i, j)},
						Spec: api.NodeSpec{BGP: &api.NodeBGPSpec{IPv4Address: fmt.Sprintf("10.%d.%d.%d/16", 100+i, j/250, j%250+1)}}}
					if _, err := ds.Create(ctx, node); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "burst-ms")
		waitFor(b, func() bool {
			cfg, _ := os.ReadFile(filepath.Join(dir, "out", "bird.cfg"))
			return strings.Contains(string(cfg), fmt.Sprintf("neighbor 10.%d.3.250 ", 100+i))
		}, func() string {
			cfg, _ := os.ReadFile(filepath.Join(dir, "out", "bird.cfg"))
			return fmt.Sprintf("stats %+v; bird.cfg has %d neighbors", eng.Stats(), strings.Count(string(cfg), "neighbor "))
		})
		time.Sleep(300 * time.Millisecond) // let a trailing render, if any, happen before counting
		// Each render pass renders every changed resource; bird.cfg is one of them.
		b.ReportMetric(float64(eng.Stats().Renders-before), "renders/1000-writes")
	}
}

// startConfd runs the Source and the engine until the benchmark ends, and waits for them to stop before the
// benchmark's temporary directory is removed.
func startConfd(b *testing.B, ctx context.Context, cancel context.CancelFunc, ds *datastore.Etcd, confDir, dir string) *confd.Engine {
	src := New(ds, Config{NodeName: "node0", Logger: slog.New(slog.DiscardHandler)})
	eng := confd.New(confd.Config{ConfDir: confDir, NodeName: "node0", DestDir: filepath.Join(dir, "out"), Logger: slog.New(slog.DiscardHandler)})
	done := make(chan struct{}, 2)
	go func() { src.Run(ctx); done <- struct{}{} }()
	go func() { eng.Run(ctx, src); done <- struct{}{} }()
	b.Cleanup(func() { cancel(); <-done; <-done })
	return eng
}

// shippedConfWithReload copies the repository's conf.d and templates, replacing each reload_cmd.
func shippedConfWithReload(b *testing.B, dir, reload string) string {
	b.Helper()
	confDir := filepath.Join(dir, "conf")
	for _, sub := range []string{"conf.d", "templates"} {
		os.MkdirAll(filepath.Join(confDir, sub), 0o755)
		entries, _ := os.ReadDir(filepath.Join("..", "..", sub))
		for _, e := range entries {
			data, _ := os.ReadFile(filepath.Join("..", "..", sub, e.Name()))
			if sub == "conf.d" {
				var lines []string
				for _, l := range strings.Split(string(data), "\n") {
					if strings.HasPrefix(l, "reload_cmd") {
						l = fmt.Sprintf("reload_cmd = %q", reload)
					}
					lines = append(lines, l)
				}
				data = []byte(strings.Join(lines, "\n"))
			}
			os.WriteFile(filepath.Join(confDir, sub, e.Name()), data, 0o644)
		}
	}
	return confDir
}

func waitFor(b *testing.B, cond func() bool, explain ...func() string) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			why := ""
			for _, e := range explain {
				why = e()
			}
			b.Fatal("timed out " + why)
		}
		time.Sleep(time.Millisecond)
	}
}
