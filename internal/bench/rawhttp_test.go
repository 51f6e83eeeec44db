package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRawConn(t *testing.T) {
	body := strings.Repeat("x", 5000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/length":
			w.Header().Set("ETag", `"abc"`)
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			fmt.Fprint(w, body)
		case "/chunked":
			// Flushing first makes net/http send the body chunked.
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			fmt.Fprint(w, body[:100])
			w.(http.Flusher).Flush()
			fmt.Fprint(w, body[100:])
		case "/304":
			w.Header().Set("ETag", `"abc"`)
			w.WriteHeader(http.StatusNotModified)
		case "/created":
			w.Header().Set("Location", "/entries/1")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, r.Method, " ", r.Header.Get("Content-Length"))
		case "/close":
			w.Header().Set("Connection", "close")
			fmt.Fprint(w, "bye")
		}
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	c, err := dialRaw(context.Background(), addr, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for _, tc := range []struct {
		name       string
		req        []byte
		keep       bool
		wantStatus int
		wantN      int64
		wantBody   string
		wantETag   string
		wantLoc    string
		wantClose  bool
	}{
		{"content-length kept", request("GET", addr, "/length", nil), true, 200, 5000, body, `"abc"`, "", false},
		{"content-length discarded", request("GET", addr, "/length", nil), false, 200, 5000, "", `"abc"`, "", false},
		{"chunked kept", request("GET", addr, "/chunked", nil), true, 200, 5000, body, "", "", false},
		{"chunked discarded", request("GET", addr, "/chunked", nil), false, 200, 5000, "", "", "", false},
		{"304 has no body", request("GET", addr, "/304", nil, `If-None-Match: "abc"`), true, 304, 0, "", `"abc"`, "", false},
		{"HEAD has no body", request("HEAD", addr, "/length", nil), true, 200, 0, "", `"abc"`, "", false},
		{"POST with body", request("POST", addr, "/created", []byte("hello"), "Content-Type: text/plain"), true, 201, 6, "POST 5", "", "/entries/1", false},
		{"close", request("GET", addr, "/close", nil), true, 200, 3, "bye", "", "", true},
	} {
		var resp response
		if err := c.do(tc.req, &resp, tc.keep, true); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if resp.status != tc.wantStatus || resp.n != tc.wantN || string(resp.body) != tc.wantBody ||
			resp.etag != tc.wantETag || resp.location != tc.wantLoc || resp.close != tc.wantClose {
			t.Errorf("%s: got status %d, %d bytes, body %.20q, ETag %q, Location %q, close %v; want %d, %d, %.20q, %q, %q, %v",
				tc.name, resp.status, resp.n, resp.body, resp.etag, resp.location, resp.close,
				tc.wantStatus, tc.wantN, tc.wantBody, tc.wantETag, tc.wantLoc, tc.wantClose)
		}
	}
}

func TestRawConnMalformed(t *testing.T) {
	for _, tc := range []struct{ name, answer string }{
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n"},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n"},
		{"bad header", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n"},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &rawConn{r: bufioReader(tc.answer)}
			var resp response
			if err := c.read(&resp, false, false, false); err == nil {
				t.Errorf("read %q: got status %d and no error, want an error", tc.answer, resp.status)
			}
		})
	}
}

func TestRequest(t *testing.T) {
	got := string(request("POST", "h:1", "/p", []byte("abc"), "A: b"))
	want := "POST /p HTTP/1.1\r\nHost: h:1\r\nA: b\r\nContent-Length: 3\r\n\r\nabc"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
