package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed/internal/testenv"
)

// TestNginx puts a real nginx, configured by examples/nginx/eventfeed.conf,
// in front of "eventfeed serve": repeated reads of full pages and entries are
// answered by nginx without reaching the publisher, the head is still
// revalidated with it, and a long poll through nginx still wakes on an
// append.
func TestNginx(t *testing.T) {
	nginx := testenv.Command(t, "nginx")
	dir := t.TempDir()
	mustRun(t, dir, "seed", "-feed", "orders", "-n", "250", "-size", "64")
	s := serve(t, dir, "-v")
	proxy := startNginx(t, nginx, strings.TrimPrefix(s.base, "http://"))

	// The publisher's own count of the requests it answered: serve -v logs
	// one line per request.
	upstream := func() int { return strings.Count(s.Stderr(), "msg=request ") }

	_, sub := get(t, proxy+"/feeds/orders")
	first := regexp.MustCompile(`rel="first" href="([^"]+)"`).FindStringSubmatch(sub)
	entry := regexp.MustCompile(`rel="self" href="([^"]+/entries/1)"`)
	if first == nil {
		t.Fatalf("subscription document through nginx has no first link:\n%s", sub)
	}
	page := proxy + "/feeds/" + first[1]

	// Full pages and entries: the first read fills the cache, the
	// following ones never reach the publisher.
	resp, body := get(t, page)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s through nginx: %s", page, resp.Status)
	}
	m := entry.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("page 1 has no self link to entry 1:\n%.500s", body)
	}
	entryURL := resolve(t, page, m[1])
	get(t, entryURL)
	for _, enc := range []string{"", "gzip"} {
		get(t, page, "Accept-Encoding", enc)
		get(t, entryURL, "Accept-Encoding", enc)
	}
	before := upstream()
	for range 20 {
		for _, u := range []string{page, entryURL} {
			resp, _ := get(t, u)
			if got := resp.Header.Get("X-Cache-Status"); got != "HIT" {
				t.Errorf("GET %s: X-Cache-Status %q, want HIT", u, got)
			}
			if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
				t.Errorf("GET %s: Cache-Control %q, want the publisher's immutable", u, cc)
			}
		}
	}
	// The head is revalidated with the publisher on every read. The
	// publisher logs a request once answered, so wait for the lines.
	for range 3 {
		get(t, proxy+"/feeds/orders")
	}
	waitFor(t, func() bool { return upstream() >= before+3 })
	time.Sleep(100 * time.Millisecond) // for a stray line, were there one
	if n := upstream() - before; n != 3 {
		t.Errorf("40 reads of cached pages and 3 of the subscription document reached the publisher %d times, want 3 (the revalidations)", n)
	}

	// An append by another process reaches readers through nginx.
	mustRun(t, dir, "append", "-feed", "orders", "-type", "order.placed", `{"n":"fresh"}`)
	waitFor(t, func() bool {
		_, body := get(t, proxy+"/feeds/orders")
		return strings.Contains(body, `<ef:seq>251</ef:seq>`)
	})

	// A long poll passes through nginx and wakes on an append.
	resp, _ = get(t, proxy+"/feeds/orders")
	etag := resp.Header.Get("ETag")
	woke := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, proxy+"/feeds/orders", nil)
		req.Header.Set("If-None-Match", etag)
		req.Header.Set("Prefer", "wait=20")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			woke <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		woke <- fmt.Sprintf("%d %v %s", resp.StatusCode, err, b)
	}()
	// Give the poll time to reach the publisher. Should it come later,
	// it finds the head moved and is answered at once, which the checks
	// below accept too; what they refuse is an answer before the append.
	time.Sleep(300 * time.Millisecond)
	select {
	case got := <-woke:
		t.Fatalf("long poll through nginx answered before any append: %.300q", got)
	default:
	}
	mustRun(t, dir, "append", "-feed", "orders", "-type", "order.placed", `{"n":"woken"}`)
	select {
	case got := <-woke:
		// The entry's JSON is in Base64 (RFC 4287 §4.1.3.3).
		if !strings.HasPrefix(got, "200 ") || !strings.Contains(got, base64.StdEncoding.EncodeToString([]byte(`{"n":"woken"}`))) {
			t.Errorf("long poll through nginx answered %.300q, want 200 with the new entry", got)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("long poll through nginx did not wake within 15 s of the append")
	}
}

func resolve(t *testing.T, base, ref string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := req.URL.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	return u.String()
}

// startNginx runs nginx in the foreground with examples/nginx/eventfeed.conf,
// its upstream pointed at upstream and its files in a temporary directory,
// and returns its base URL. Any directives are added where the cache is
// configured.
func startNginx(t *testing.T, nginx, upstream string, directives ...string) string {
	t.Helper()
	conf, err := os.ReadFile("../../examples/nginx/eventfeed.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := freePort(t)
	site := strings.NewReplacer(
		"server 127.0.0.1:8080;", "server "+upstream+";",
		"listen 127.0.0.1:8081;", "listen "+port+";",
		"/var/cache/nginx/eventfeed", filepath.Join(dir, "cache"),
		"proxy_cache eventfeed;", "proxy_cache eventfeed;\n"+strings.Join(directives, "\n"),
	).Replace(string(conf))
	if err := os.WriteFile(filepath.Join(dir, "eventfeed.conf"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/eventfeed.conf;
}
`, dir)
	if os.Geteuid() == 0 {
		// Workers would otherwise switch to nobody, who cannot write the
		// cache in a root-owned temporary directory.
		main = "user root;\n" + main
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	dieWithTest(cmd)
	// SIGTERM makes the master stop its workers before it exits; the
	// workers would otherwise outlive a killed master.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = lockedWriter{new(sync.Mutex), out}, nil
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	base := "http://" + port
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", port)
		if err == nil {
			c.Close()
			return base
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %s\n%s", out, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s within 10 s: %s", port, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort returns a loopback address with a port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls cond until it holds, failing t after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("not so within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
