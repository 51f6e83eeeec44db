package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// nginx is an nginx serving files from a directory: one worker, on
// loopback, with a configuration of its own in a scratch directory.
type nginx struct {
	cmd  *exec.Cmd
	addr string
	dir  string
	errs *tail
	done chan struct{}
}

// nginxMain is what every configuration here begins with, as a format:
// %[1]s the user directive, %[2]s the scratch directory. One worker, no
// access log, every path nginx writes in the scratch directory, so that it
// runs without touching the system's nginx. The http block stays open.
const nginxMain = `%s
worker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[2]s/tmp/body;
    proxy_temp_path %[2]s/tmp/proxy;
    fastcgi_temp_path %[2]s/tmp/fastcgi;
    uwsgi_temp_path %[2]s/tmp/uwsgi;
    scgi_temp_path %[2]s/tmp/scgi;
`

// nginxConf is the configuration: one worker, no access log, keep-alive
// without a request limit, static files with nginx's own ETag
// ("mtime-size" in hex) and Last-Modified. Every path nginx writes is in
// the scratch directory, so that it runs without touching the system's
// nginx.
const nginxConf = nginxMain + `    default_type application/atom+xml;
    types { }
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    etag on;
    server {
        listen %[3]s;
        root %[2]s/www;
    }
}
`

// startNginx writes files (name → content) into a fresh www directory under
// dir and starts the nginx binary at path serving them on a free loopback
// port.
func startNginx(ctx context.Context, path, dir string, files map[string][]byte) (*nginx, error) {
	for _, d := range []string{"www", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, "www", name), b, 0o644); err != nil {
			return nil, err
		}
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	return runNginx(ctx, path, dir, addr, fmt.Appendf(nil, nginxConf, rootUser(), dir, addr))
}

// rootUser is the user directive nginx needs here: running as root,
// nginx's worker would switch to "nobody", who may not read (or write)
// the scratch directory.
func rootUser() string {
	if os.Geteuid() == 0 {
		return "user root;"
	}
	return ""
}

// nginxProxyConf is the main configuration around a site configuration
// such as examples/nginx/eventfeed.conf: one worker, no access log, every
// path nginx writes in the scratch directory.
const nginxProxyConf = nginxMain + `    include %[2]s/site.conf;
}
`

// startNginxProxy starts the nginx binary at path with site, a site
// configuration like examples/nginx/eventfeed.conf, adapted to run in dir:
// its upstream is upstream (host:port) instead of 127.0.0.1:8080, it
// listens on a free loopback port instead of 127.0.0.1:8081, and its
// proxy cache is a fresh directory under dir.
func startNginxProxy(ctx context.Context, path, dir string, site []byte, upstream string) (*nginx, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, err
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	s := string(site)
	for _, r := range [][2]string{
		{"server 127.0.0.1:8080;", "server " + upstream + ";"},
		{"listen 127.0.0.1:8081;", "listen " + addr + ";"},
		{"/var/cache/nginx/eventfeed", filepath.Join(dir, "cache")},
	} {
		if !strings.Contains(s, r[0]) {
			return nil, fmt.Errorf("bench: nginx site configuration has no %q to adapt", r[0])
		}
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	if err := os.WriteFile(filepath.Join(dir, "site.conf"), []byte(s), 0o644); err != nil {
		return nil, err
	}
	return runNginx(ctx, path, dir, addr, fmt.Appendf(nil, nginxProxyConf, rootUser(), dir))
}

// runNginx writes conf to dir/nginx.conf, starts the nginx binary at path
// with it and returns once it listens on addr.
func runNginx(ctx context.Context, path, dir, addr string, conf []byte) (*nginx, error) {
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	n := &nginx{cmd: cmd, addr: addr, dir: dir, errs: &tail{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = n.errs, n.errs
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start nginx: %w", err)
	}
	go func() {
		cmd.Wait()
		close(n.done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return n, nil
		}
		select {
		case <-n.done:
			return nil, fmt.Errorf("bench: nginx exited: %s %s", n.errs, n.errorLog())
		case <-ctx.Done():
			n.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.stop()
			return nil, fmt.Errorf("bench: nginx not listening on %s: %s %s", addr, n.errs, n.errorLog())
		}
	}
}

func (n *nginx) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	return string(b)
}

// worker returns the process ID of nginx's one worker, 0 when it cannot
// be told.
func (n *nginx) worker() int {
	pids, err := childPIDs(n.cmd.Process.Pid)
	if err != nil || len(pids) != 1 {
		return 0
	}
	return pids[0]
}

// stop ends nginx (SIGTERM: fast shutdown) and waits for it.
func (n *nginx) stop() {
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(stopTimeout):
		n.cmd.Process.Kill()
		<-n.done
	}
}

// freePort returns a loopback address with a port that was free a moment
// ago, for a server that cannot be told to pick its own.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
