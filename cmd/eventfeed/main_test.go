package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// asMainVar, when set, makes the test binary act as the eventfeed command,
// so that tests run the command as a process, as users do, without building
// it: exec os.Args[0] with asMainVar=1 (see asMain). The bench scenarios
// re-exec os.Executable() the same way to start their publisher.
const asMainVar = "EVENTFEED_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainVar) != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// asMain makes cmd run this test binary as the eventfeed command.
func asMain(cmd *exec.Cmd) *exec.Cmd {
	cmd.Env = append(os.Environ(), asMainVar+"=1")
	return cmd
}

// result is what one run of the binary did.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the command with args in dir, stdin as its standard input.
func runCmd(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := asMain(exec.CommandContext(ctx, os.Args[0], args...))
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("eventfeed %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return result{code, stdout.String(), stderr.String()}
}

// mustRun runs the binary and fails t unless it exits 0; it returns stdout.
func mustRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	r := runCmd(t, dir, "", args...)
	if r.code != 0 {
		t.Fatalf("eventfeed %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// server is a running "eventfeed serve".
type server struct {
	cmd  *exec.Cmd
	base string // "http://127.0.0.1:PORT"

	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
}

// serve starts "eventfeed serve -addr 127.0.0.1:0 args..." in dir and waits
// until it listens. The server is stopped when the test ends.
func serve(t *testing.T, dir string, args ...string) *server {
	t.Helper()
	cmd := asMain(exec.Command(os.Args[0], append([]string{"serve", "-addr", "127.0.0.1:0"}, args...)...))
	dieWithTest(cmd)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = lockedWriter{&s.mu, &s.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
	})
	lines := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		cmd.Wait()
	}()
	select {
	case line := <-lines:
		addr, ok := strings.CutPrefix(line, "serving ")
		if !ok {
			t.Fatalf("serve printed %q, want \"serving URL\"", line)
		}
		s.base = strings.TrimSuffix(addr, "/feeds/")
	case <-s.done:
		t.Fatalf("serve exited before listening: %s", s.Stderr())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start: %s", s.Stderr())
	}
	return s
}

// Stderr returns what the server has written to its standard error so far.
func (s *server) Stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestAppendAndSeed(t *testing.T) {
	dir := t.TempDir()
	if got := mustRun(t, dir, "seed", "-feed", "orders", "-n", "120", "-size", "64"); got != "120\n" {
		t.Errorf("seed printed %q, want the head %q", got, "120\n")
	}
	if got := mustRun(t, dir, "append", "-feed", "orders", "-type", "order.placed", "-subject", "order-1", "-id", "urn:x:1", `{"total":3}`); got != "121\n" {
		t.Errorf("append printed %q, want the seq %q", got, "121\n")
	}
	// The same ID with the same content is a replay: the original seq.
	if got := mustRun(t, dir, "append", "-feed", "orders", "-type", "order.placed", "-subject", "order-1", "-id", "urn:x:1", `{"total":3}`); got != "121\n" {
		t.Errorf("replayed append printed %q, want the original seq %q", got, "121\n")
	}
	// DATA from stdin.
	r := runCmd(t, dir, `{"total":4}`, "append", "-feed", "orders", "-type", "order.placed")
	if r.code != 0 || r.stdout != "122\n" {
		t.Errorf("append from stdin: exit %d, printed %q, want 0 and %q (%s)", r.code, r.stdout, "122\n", r.stderr)
	}
	// Tail reads it all back through a server.
	s := serve(t, dir)
	out := mustRun(t, dir, "tail", s.base+"/feeds/orders")
	if n := strings.Count(out, "\n"); n != 122 {
		t.Errorf("tail printed %d lines, want 122", n)
	}
	if !strings.Contains(out, `"id":"urn:x:1","seq":121,"type":"order.placed","subject":"order-1"`) {
		t.Errorf("tail output lacks the appended event:\n%s", lastLines(out, 3))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func TestBadCommandLines(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "append", "-feed", "orders", "-type", "t", "-id", "urn:x:1", `{"a":1}`)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no command", nil, 2, "usage: eventfeed COMMAND"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"append without type", []string{"append", "-feed", "orders", "{}"}, 2, "-feed and -type are required"},
		{"bad feed name", []string{"append", "-feed", "Orders!", "-type", "t", "{}"}, 2, "invalid feed name"},
		{"unknown flag", []string{"append", "-nope"}, 2, "flag provided but not defined"},
		{"conflicting ID", []string{"append", "-feed", "orders", "-type", "t", "-id", "urn:x:1", `{"a":2}`}, 1, "already used"},
		{"seed without n", []string{"seed", "-feed", "orders"}, 2, "positive -n"},
		{"page size of a stored feed", []string{"serve", "-addr", "127.0.0.1:0", "-page-size", "50"}, 1, `feed "orders" has page size 100`},
		{"page size out of range", []string{"serve", "-page-size", "0"}, 2, "out of range"},
		{"not a database", []string{"append", "-db", "main_test.go", "-feed", "x", "-type", "t", "{}"}, 1, ""},
		{"usage hint", []string{"append", "-feed", "orders"}, 2, `Run "eventfeed help append" for usage.`},
		{"invalid JSON", []string{"append", "-feed", "orders", "-type", "t", "{bad json"}, 2, "invalid event: Data is not valid JSON"},
		{"invalid +json", []string{"append", "-feed", "orders", "-type", "t", "-content-type", "application/cloudevents+json", "{"}, 2, "invalid event"},
		{"serve a missing file", []string{"serve", "-addr", "127.0.0.1:0", "-db", "typo.db"}, 2, `no event log at typo.db: "eventfeed seed" and "eventfeed append" create one, or give -create`},
		{"port out of range", []string{"serve", "-addr", "127.0.0.1:99999"}, 2, `-addr "127.0.0.1:99999"`},
		{"address without port", []string{"serve", "-addr", "localhost"}, 2, `-addr "localhost"`},
		{"help of an unknown command", []string{"help", "frobnicate"}, 2, `unknown command "frobnicate"`},
		{"help of two commands", []string{"help", "serve", "tail"}, 2, "want one command"},
		{"version with arguments", []string{"version", "now"}, 2, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "not a database" {
				os.WriteFile(filepath.Join(dir, "main_test.go"), []byte("this is no SQLite file, but long enough to look like a header......"), 0o644)
			}
			r := runCmd(t, dir, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q in stderr", r.code, r.stderr, tc.code, tc.stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "typo.db")); !os.IsNotExist(err) {
		t.Errorf("serve of a missing file left typo.db behind (Stat: %v)", err)
	}
	// None of it changed the log.
	if got := mustRun(t, dir, "append", "-feed", "orders", "-type", "t", "-id", "urn:x:1", `{"a":1}`); got != "1\n" {
		t.Errorf("after the bad command lines the first event replays as seq %q, want 1", got)
	}
}

// TestServeShutdown shows that serve stops promptly and cleanly on SIGTERM,
// even with a long poll in flight.
func TestServeShutdown(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "append", "-feed", "orders", "-type", "t", "{}")
	s := serve(t, dir)
	resp, _ := get(t, s.base+"/feeds/orders")
	etag := resp.Header.Get("ETag")
	polled := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, s.base+"/feeds/orders", nil)
		req.Header.Set("If-None-Match", etag)
		req.Header.Set("Prefer", "wait=60")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			polled <- 0
			return
		}
		resp.Body.Close()
		polled <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond) // let the long poll arrive; either order is correct
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("serve still running 15 s after SIGTERM")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("serve exited %d after SIGTERM, want 0\n%s", code, s.Stderr())
	}
	if code := <-polled; code != http.StatusNotModified {
		t.Errorf("the long poll in flight got %d, want 304 Not Modified", code)
	}
}

func TestHelpAndVersion(t *testing.T) {
	dir := t.TempDir()
	for _, cmd := range []string{"serve", "append", "seed", "tail", "bench", "version"} {
		help, flagH := runCmd(t, dir, "", "help", cmd), runCmd(t, dir, "", cmd, "-h")
		if help.code != 0 || !strings.Contains(help.stderr, "usage: eventfeed "+cmd) || help != flagH {
			t.Errorf("help %s: exit %d, stderr %q; want exit 0 and the output of %s -h (exit %d, %q)", cmd, help.code, help.stderr, cmd, flagH.code, flagH.stderr)
		}
	}
	r := runCmd(t, dir, "", "help")
	if r.code != 0 || !strings.Contains(r.stderr, "version") || !strings.Contains(r.stderr, "eventfeed help COMMAND") {
		t.Errorf("help: exit %d, stderr %q; want 0 and the commands, version and help among them", r.code, r.stderr)
	}
	r = runCmd(t, dir, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "eventfeed ") || !strings.HasSuffix(r.stdout, runtime.Version()+"\n") {
		t.Errorf("version: exit %d, stdout %q; want 0 and \"eventfeed VERSION … %s\"", r.code, r.stdout, runtime.Version())
	}
}

func TestVersionLine(t *testing.T) {
	for _, tc := range []struct {
		info debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}}, "eventfeed v1.2.3 go1.26.8"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.time", Value: "2026-12-02T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		}}, "eventfeed (devel) (revision 0123abc, 2026-12-02T10:00:00Z, modified) go1.26.8"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.modified", Value: "false"}}},
			"eventfeed (devel) (revision 0123abc) go1.26.8"},
	} {
		if got := version(&tc.info); got != tc.want {
			t.Errorf("version(%+v) = %q, want %q", tc.info, got, tc.want)
		}
	}
}

// TestServeCreate shows that -create serves an empty log where there is
// no file yet.
func TestServeCreate(t *testing.T) {
	dir := t.TempDir()
	s := serve(t, dir, "-db", "new.db", "-create")
	if resp, body := get(t, s.base+"/feeds/"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /feeds/ of an empty log: %d %s", resp.StatusCode, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.db")); err != nil {
		t.Errorf("serve -create made no file: %v", err)
	}
}
