package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestServeLimits checks the bounds serve puts on a connection: a request
// body not sent within -body-timeout is answered 408, and a header over
// maxHeaderBytes 431, each without waiting for the client.
func TestServeLimits(t *testing.T) {
	s := serve(t, t.TempDir(), "-create", "-body-timeout", "300ms", "-append-token", "secret")
	addr := strings.TrimPrefix(s.base, "http://")
	for _, tt := range []struct {
		name, request, want string
	}{
		{"slow body", "POST /feeds/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\n" +
			"Content-Type: application/json\r\nEvent-Type: t\r\nContent-Length: 10\r\n\r\n{", "HTTP/1.1 408 "},
		{"refused, body unsent", "POST /feeds/orders HTTP/1.1\r\nHost: x\r\n" +
			"Content-Type: application/json\r\nEvent-Type: t\r\nContent-Length: 10\r\n\r\n{", "HTTP/1.1 401 "},
		{"large header", "GET /feeds/ HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", maxHeaderBytes+4096) + "\r\n\r\n", "HTTP/1.1 431 "},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := fmt.Fprint(c, tt.request); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		// The client sends nothing more; an answer must come regardless.
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if !strings.HasPrefix(line, tt.want) {
			t.Errorf("%s: answered %q (%v), want %q", tt.name, line, err, tt.want)
		}
	}
}
