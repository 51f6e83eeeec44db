package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed/internal/testenv"
)

// startWithMetrics starts "eventfeed CMD -metrics-addr 127.0.0.1:0 ARGS..." in
// dir and returns the first line it prints on stdout (none for tail) and
// the metrics URL it prints (serve on stdout, tail on stderr).
func startWithMetrics(t *testing.T, dir string, args ...string) (first, metricsURL string) {
	t.Helper()
	cmd := asMain(exec.Command(os.Args[0], append([]string{args[0], "-metrics-addr", "127.0.0.1:0"}, args[1:]...)...))
	dieWithTest(cmd)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	firsts, urls := make(chan string, 1), make(chan string, 1)
	scan := func(r io.Reader, isStdout bool) {
		sc := bufio.NewScanner(r)
		for n := 0; sc.Scan(); n++ {
			if u, ok := strings.CutPrefix(sc.Text(), "metrics on "); ok {
				urls <- u
			} else if isStdout && n == 0 {
				firsts <- sc.Text()
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); scan(stdout, true) }()
	go func() { defer wg.Done(); scan(stderr, false) }()
	go func() {
		defer close(done)
		wg.Wait()
		cmd.Wait()
	}()
	select {
	case metricsURL = <-urls:
	case <-done:
		t.Fatalf("%s exited before printing its metrics URL", args[0])
	case <-time.After(30 * time.Second):
		t.Fatalf("%s printed no metrics URL in 30 s", args[0])
	}
	if args[0] == "serve" {
		first = <-firsts // printed before the metrics URL
	}
	return first, metricsURL
}

// TestServeMetrics checks serve's /healthz, /readyz and -metrics-addr,
// and the exposition with promtool.
func TestServeMetrics(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "seed", "-feed", "orders", "-n", "150")
	first, metricsURL := startWithMetrics(t, dir, "serve", "-addr", "127.0.0.1:0", "-append-token", "s3cret")
	base := strings.TrimSuffix(strings.TrimPrefix(first, "serving "), "/feeds/")
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := get(t, base+path); resp.StatusCode != http.StatusOK || body != "ok\n" {
			t.Errorf("GET %s: %d %q, want 200 ok", path, resp.StatusCode, body)
		}
	}
	get(t, base+"/feeds/orders")
	req, _ := http.NewRequest(http.MethodPost, base+"/feeds/orders", strings.NewReader(`{"a":1}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Event-Type", "t")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	resp, body := get(t, metricsURL)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", metricsURL, resp.StatusCode)
	}
	for _, want := range []string{
		`eventfeed_publisher_requests_total{code="200",kind="subscription"} 1`,
		`eventfeed_publisher_appends_total{outcome="accepted"} 1`,
		`eventfeed_store_append_duration_seconds_count{store="sqlite"} 1`,
		"eventfeed_publisher_render_duration_seconds_bucket",
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	// The feeds' paths are counted, the health checks are not.
	if strings.Contains(body, "healthz") || strings.Contains(body, "readyz") {
		t.Errorf("metrics count the health checks:\n%s", body)
	}

	promtool := testenv.Command(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestTailMetrics checks tail -metrics-addr: the poller's metrics while it
// follows a feed.
func TestTailMetrics(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "seed", "-feed", "orders", "-n", "150")
	s := serve(t, dir)
	_, metricsURL := startWithMetrics(t, dir, "tail", "-follow", "-q", s.base+"/feeds/orders")
	// The poller catches up while we ask: wait for it, by the metric.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := get(t, metricsURL)
		if strings.Contains(body, `eventfeed_poller_entries_applied_total{feed="orders"} 150`) &&
			strings.Contains(body, `eventfeed_poller_caught_up{feed="orders"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tail's metrics do not show 150 events applied and caught up after 30 s:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeReadyPostgres checks /readyz on a PostgreSQL log: ready once an
// instance sequences the outbox, and the sequencer's metrics with it.
func TestServeReadyPostgres(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	schema := fmt.Sprintf("cmd_test_%d", time.Now().UnixNano())
	t.Cleanup(func() { dropSchema(t, dsn, schema) })
	dir := t.TempDir()
	mustRun(t, dir, "seed", "-postgres", dsn, "-schema", schema, "-feed", "orders", "-n", "5")
	first, metricsURL := startWithMetrics(t, dir, "serve", "-addr", "127.0.0.1:0", "-postgres", dsn, "-schema", schema)
	base := strings.TrimSuffix(strings.TrimPrefix(first, "serving "), "/feeds/")
	// Right after start the instance may not hold the sequencer's lock
	// yet: 503 until it does.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, body := get(t, base+"/readyz")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("GET /readyz: %d %q, want 200 within 30 s (503 meanwhile)", resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, body := get(t, metricsURL)
	for _, want := range []string{"eventfeed_postgres_sequencer_alive 1", "eventfeed_postgres_outbox_events 0", "eventfeed_postgres_sequencer_leader_changes_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
