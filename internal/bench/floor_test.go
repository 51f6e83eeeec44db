package bench

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

func TestFloorHandler(t *testing.T) {
	body := []byte("<feed/>")
	h := FloorHandler(map[string][]byte{"page.xml": body})
	serve := func(method, path string, header ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := serve("GET", "/page.xml")
	etag := w.Header().Get("ETag")
	if w.Code != 200 || w.Body.String() != string(body) || etag == "" || w.Header().Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Fatalf("GET: %d %q, ETag %q, headers %v; want 200, the file, an ETag and its length", w.Code, w.Body, etag, w.Header())
	}
	for _, tc := range []struct {
		method, path, inm string
		want              int
	}{
		{"GET", "/page.xml", etag, http.StatusNotModified},
		{"GET", "/page.xml", `"other"`, http.StatusOK},
		{"GET", "/nope.xml", "", http.StatusNotFound},
		{"POST", "/page.xml", "", http.StatusNotFound},
	} {
		var hdr []string
		if tc.inm != "" {
			hdr = []string{"If-None-Match", tc.inm}
		}
		if w := serve(tc.method, tc.path, hdr...); w.Code != tc.want {
			t.Errorf("%s %s If-None-Match %q: %d, want %d", tc.method, tc.path, tc.inm, w.Code, tc.want)
		}
	}
}
