package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed/internal/testenv"
)

// TestCaches puts real caches in front of "eventfeed serve", nginx with
// examples/nginx/eventfeed.conf and Varnish with its default
// configuration, while events are appended several times a second and
// clients that revalidate with If-Modified-Since only (from the
// Last-Modified they were given, as RFC 9111 §4.3.1 has caches do) read
// the subscription document and the pages through them: no client ever
// holds a partial page marked immutable, and no revalidation of the head
// confirms a document older than the head at the time it was asked.
//
// Clients that make a date up from their copy's Date are not among them:
// Varnish answers those from the Date of what it stored (RFC 9111 §4.3.2),
// which the publisher cannot change; publisher TestDatesNeverValidate
// checks that the publisher itself ignores such dates.
func TestCaches(t *testing.T) {
	nginx := testenv.Command(t, "nginx")
	varnishd := testenv.Command(t, "varnishd")
	const pageSize = 5
	dir := t.TempDir()
	s := serve(t, dir, "-create", "-page-size", strconv.Itoa(pageSize), "-append-token", "secret")
	upstream := strings.TrimPrefix(s.base, "http://")
	proxies := map[string]string{
		"nginx":   startNginx(t, nginx, upstream),
		"varnish": startVarnish(t, varnishd, upstream),
	}

	// The appender: one event every 30 ms for 3 s; acked counts the
	// events the publisher has acknowledged.
	var acked atomic.Int64
	post := func() {
		req, _ := http.NewRequest(http.MethodPost, s.base+"/feeds/orders", strings.NewReader(`{"n":1}`))
		req.Header.Set("Authorization", "Bearer secret")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Event-Type", "order.placed")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("append: %v", err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("append: %s", resp.Status)
			return
		}
		acked.Add(1)
	}
	post()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(30 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				post()
			}
		}
	}()
	var checked atomic.Int64
	for name, proxy := range proxies {
		for c := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := &cacheClient{t: t, who: fmt.Sprintf("%s client %d", name, c), proxy: proxy, acked: &acked, pageSize: pageSize, held: map[string]*heldDoc{}}
				for ctx.Err() == nil {
					cl.round()
					checked.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	if checked.Load() < 8 {
		t.Errorf("only %d rounds of reads", checked.Load())
	}
}

// heldDoc is a document a cacheClient holds.
type heldDoc struct {
	body         []byte
	lastModified string
	immutable    bool
}

// cacheClient reads the subscription document and every page it learnt of
// through a cache, keeping what it got as a client cache would.
type cacheClient struct {
	t        *testing.T
	who      string
	proxy    string
	acked    *atomic.Int64
	pageSize int
	held     map[string]*heldDoc
}

var (
	viaLink  = regexp.MustCompile(`<link rel="via" href="([^"]+)"`)
	seqElem  = regexp.MustCompile(`<ef:seq>(\d+)</ef:seq>`)
	entryTag = regexp.MustCompile(`<entry>`)
)

// round reads the subscription document, then every page it holds that is
// not immutable, the working page included.
func (c *cacheClient) round() {
	sub := c.proxy + "/feeds/orders"
	d := c.fetch(sub)
	if d == nil {
		return
	}
	if m := viaLink.FindSubmatch(d.body); m != nil {
		base, _ := url.Parse(sub)
		ref, err := url.Parse(string(m[1]))
		if err != nil {
			c.t.Errorf("%s: via link %q: %v", c.who, m[1], err)
			return
		}
		if u := base.ResolveReference(ref).String(); c.held[u] == nil {
			c.held[u] = nil
		}
	}
	for u, h := range c.held {
		if u != sub && (h == nil || !h.immutable) {
			c.fetch(u)
		}
	}
}

// fetch gets u, with If-Modified-Since when the client holds it with a
// Last-Modified, checks what it then holds, and returns that.
func (c *cacheClient) fetch(u string) *heldDoc {
	t := c.t
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	old := c.held[u]
	if old != nil && old.lastModified != "" {
		req.Header.Set("If-Modified-Since", old.lastModified)
	}
	head := c.acked.Load()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s: GET %s: %v", c.who, u, err)
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Errorf("%s: GET %s: %v", c.who, u, err)
		return nil
	}
	cc := resp.Header.Get("Cache-Control")
	var now *heldDoc
	switch resp.StatusCode {
	case http.StatusOK:
		now = &heldDoc{body: body, lastModified: resp.Header.Get("Last-Modified")}
	case http.StatusNotModified:
		if old == nil || old.lastModified == "" {
			t.Errorf("%s: GET %s unconditional answered 304", c.who, u)
			return nil
		}
		now = &heldDoc{body: old.body, lastModified: old.lastModified}
		if strings.HasSuffix(u, "/feeds/orders") && maxSeq(now.body) < head {
			t.Errorf("%s: GET %s If-Modified-Since %s answered 304 for a subscription document with seqs up to %d, asked after seq %d was acknowledged",
				c.who, u, old.lastModified, maxSeq(now.body), head)
		}
	default:
		t.Errorf("%s: GET %s: %s %s", c.who, u, resp.Status, body)
		return nil
	}
	now.immutable = strings.Contains(cc, "immutable")
	if now.immutable {
		n := len(entryTag.FindAll(now.body, -1))
		if n != c.pageSize || !bytes.Contains(now.body, []byte("<fh:archive/>")) {
			t.Errorf("%s: GET %s answered %d with Cache-Control %q: the client now holds, immutable, a page of %d entries (archive: %t)",
				c.who, u, resp.StatusCode, cc, n, bytes.Contains(now.body, []byte("<fh:archive/>")))
		}
	}
	c.held[u] = now
	return now
}

// maxSeq is the highest ef:seq in doc.
func maxSeq(doc []byte) int64 {
	var n int64
	for _, m := range seqElem.FindAllSubmatch(doc, -1) {
		v, _ := strconv.ParseInt(string(m[1]), 10, 64)
		n = max(n, v)
	}
	return n
}

// startVarnish runs varnishd in the foreground with Debian's default
// configuration (a backend and nothing else), the backend pointed at
// upstream, its working directory and storage its own, and returns its base
// URL.
func startVarnish(t *testing.T, varnishd, upstream string) string {
	t.Helper()
	// varnishd drops privileges when run as root: its workers must reach
	// the directory, which t.TempDir's parent would not let them.
	dir, err := os.MkdirTemp("", "eventfeed-varnish-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(upstream, ":")
	vcl := fmt.Sprintf("vcl 4.1;\n\nbackend default {\n    .host = %q;\n    .port = %q;\n}\n", host, port)
	if err := os.WriteFile(filepath.Join(dir, "default.vcl"), []byte(vcl), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, varnishd, "-F", "-n", filepath.Join(dir, "work"),
		"-a", listen, "-f", filepath.Join(dir, "default.vcl"), "-s", "malloc,32m", "-T", "none")
	dieWithTest(cmd)
	// SIGTERM makes the manager stop its child before it exits.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var mu sync.Mutex
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = lockedWriter{&mu, out}, lockedWriter{&mu, out}
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
	base := "http://" + listen
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/feeds/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-done:
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("varnishd exited: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("varnishd did not answer on %s within 20 s: %s", listen, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
