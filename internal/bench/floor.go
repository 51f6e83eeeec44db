package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// FloorHandler serves files from memory, as plainly as net/http allows:
// GET /NAME answers the bytes of files[NAME] with Content-Type,
// Content-Length, a strong ETag and Cache-Control set straight into the
// header map, and 304 when If-None-Match is that ETag exactly. It is
// what the serve scenario compares the publisher with to tell net/http's
// own cost per request from the publisher's.
func FloorHandler(files map[string][]byte) http.Handler {
	type file struct {
		body                []byte
		length, etag, ctype []string
	}
	m := make(map[string]*file, len(files))
	for name, b := range files {
		sum := sha256.Sum256(b)
		m["/"+name] = &file{
			body:   b,
			length: []string{strconv.Itoa(len(b))},
			etag:   []string{`"` + hex.EncodeToString(sum[:8]) + `"`},
			ctype:  []string{"application/atom+xml"},
		}
	}
	cc := []string{"public, max-age=31536000, immutable"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := m[r.URL.Path]
		if f == nil || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h["Etag"] = f.etag
		h["Cache-Control"] = cc
		if inm := r.Header["If-None-Match"]; len(inm) == 1 && inm[0] == f.etag[0] {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h["Content-Type"] = f.ctype
		h["Content-Length"] = f.length
		w.WriteHeader(http.StatusOK)
		w.Write(f.body)
	})
}

// RunFloor serves the files of dir (not its subdirectories) with
// FloorHandler on addr, with the http.Server settings of "eventfeed serve",
// prints "serving http://ADDR/" to stdout once it listens, and stops when
// ctx is done.
func RunFloor(ctx context.Context, addr, dir string, stdout io.Writer) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if files[e.Name()], err = os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           FloorHandler(files),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	fmt.Fprintf(stdout, "serving http://%s/\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	srv.Close()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
