package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds on waiting for children.
const (
	startTimeout = time.Minute
	stopTimeout  = 30 * time.Second
)

// child is a publisher ("eventfeed serve") running as a child process, so
// that its memory and CPU are its own.
type child struct {
	cmd    *exec.Cmd
	addr   string // host:port it listens on
	stderr *tail
	done   chan struct{} // closed when it has exited
	err    error         // of Wait, once done is closed
}

// startServe starts "eventfeed serve" with args and -addr 127.0.0.1:0, and
// returns once it listens.
func (e *Env) startServe(ctx context.Context, args ...string) (*child, error) {
	return e.startChild(ctx, append([]string{"serve", "-addr", "127.0.0.1:0"}, args...)...)
}

// startChild starts the eventfeed binary with args, a server that prints
// "serving URL" once it listens, and returns then.
func (e *Env) startChild(ctx context.Context, args ...string) (*child, error) {
	cmd := e.Command(args...)
	ready := make(chan string, 1)
	c := &child{cmd: cmd, stderr: &tail{}, done: make(chan struct{})}
	cmd.Stdout = &lineWatcher{prefix: "serving ", found: ready}
	cmd.Stderr = c.stderr
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start publisher: %w", err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case line := <-ready:
		u, err := url.Parse(strings.TrimSpace(strings.TrimPrefix(line, "serving ")))
		if err != nil || u.Host == "" {
			c.kill()
			return nil, fmt.Errorf("bench: publisher announced %q", line)
		}
		c.addr = u.Host
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("bench: publisher exited: %v: %s", c.err, c.stderr)
	case <-timer.C:
		c.kill()
		return nil, fmt.Errorf("bench: publisher not listening after %v: %s", startTimeout, c.stderr)
	case <-ctx.Done():
		c.kill()
		return nil, ctx.Err()
	}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop ends the child with SIGTERM (SIGKILL if it lingers) and returns
// its peak RSS in bytes.
func (c *child) stop() (int64, error) {
	select {
	case <-c.done:
		return 0, fmt.Errorf("bench: publisher exited early: %v: %s", c.err, c.stderr)
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C:
		c.kill()
		return 0, fmt.Errorf("bench: publisher still running %v after SIGTERM: %s", stopTimeout, c.stderr)
	}
	if c.err != nil {
		return 0, fmt.Errorf("bench: publisher: %v: %s", c.err, c.stderr)
	}
	return peakRSS(c.cmd.ProcessState), nil
}

// kill ends the child at once and waits for it.
func (c *child) kill() {
	c.cmd.Process.Kill()
	<-c.done
}

// run runs the eventfeed binary with args to completion.
func (e *Env) run(ctx context.Context, args ...string) error {
	cmd := e.Command(args...)
	errs := &tail{}
	cmd.Stderr = errs
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("bench: eventfeed %s: %w", args[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("bench: eventfeed %s: %v: %s", args[0], err, errs)
		}
		return nil
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return ctx.Err()
	}
}

// seed appends n synthetic events of about 300 bytes of JSON to feed in
// the SQLite log at db ("eventfeed seed"), whose feeds created now get
// pageSize entries per page.
func (e *Env) seed(ctx context.Context, db, feed string, n, pageSize int) error {
	start := time.Now()
	err := e.run(ctx, "seed", "-db", db, "-feed", feed, "-n", fmt.Sprint(n), "-size", "300", "-page-size", fmt.Sprint(pageSize))
	if err == nil {
		e.logf("seeded %d events (page size %d) in %v", n, pageSize, time.Since(start).Round(time.Millisecond))
	}
	return err
}

// lineWatcher is a child's stdout: it sends the first line starting with
// prefix and discards the rest.
type lineWatcher struct {
	prefix string
	found  chan<- string
	buf    []byte
	done   bool
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	if w.done {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		if strings.HasPrefix(line, w.prefix) {
			w.found <- line
			w.done, w.buf = true, nil
			break
		}
	}
	return len(p), nil
}

// tail keeps the last few KB written to it: a child's stderr, shown when
// the child fails.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 4 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return "(no output)"
	}
	return s
}
