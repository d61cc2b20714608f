package felix

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/datastore"
)

// listingWatcher delivers an empty listing for every prefix and then nothing: felix is in sync at once and
// no datastore change follows.
type listingWatcher struct{}

func (listingWatcher) Watch(ctx context.Context, _ string, _ int64) <-chan datastore.Event {
	ch := make(chan datastore.Event, 2)
	ch <- datastore.Event{Type: datastore.Resync}
	ch <- datastore.Event{Type: datastore.InSync}
	go func() {
		<-ctx.Done()
		close(ch)
	}()
	return ch
}

// testNetns creates a network namespace that is deleted at cleanup and returns its path.
func testNetns(t *testing.T) string {
	t.Helper()
	if testing.Short() || os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace (and not -short)")
	}
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	name := "felixtest-" + hex.EncodeToString(id)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("creating network namespace %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("deleting network namespace %s: %v: %s", name, err, out)
		}
	})
	return "/run/netns/" + name
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func scrapeMetric(t *testing.T, port int, name string) float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatalf("scraping metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not found in:\n%s", name, body)
	return 0
}

func TestAnIptablesRefreshIntervalOfZeroDisablesThePeriodicResync(t *testing.T) {
	path := testNetns(t)
	port := freePort(t)
	env := map[string]string{
		"FELIX_FELIXHOSTNAME":            "felix-test-host",
		"CALICO_NODENAME_FILE":           filepath.Join(t.TempDir(), "nodename"), // the MTU file goes beside it
		"FELIX_IPTABLESREFRESHINTERVAL":  "0",
		"FELIX_IPV6SUPPORT":              "false",
		"FELIX_PROMETHEUSMETRICSENABLED": "true",
		"FELIX_PROMETHEUSMETRICSPORT":    strconv.Itoa(port),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Datastore: listingWatcher{}, Getenv: func(k string) string { return env[k] },
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), NetnsPath: path})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("felix returned %v", err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for scrapeMetricSoft(port, "felix_resyncs_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("felix did not program the dataplane within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	if got := scrapeMetric(t, port, "felix_resyncs_total"); got != 1 {
		t.Errorf("with FELIX_IPTABLESREFRESHINTERVAL=0 felix should resync once, at start, and never again; it resynced %v times in 2s", got)
	}
}

// scrapeMetricSoft is scrapeMetric that returns -1 while the endpoint is not up yet.
func scrapeMetricSoft(port int, name string) float64 {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}
