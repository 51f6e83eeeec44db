package publisher

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// problemType is the media type of problem documents (RFC 9457).
var problemType = []string{"application/problem+json"}

// problem is an RFC 9457 problem document.
type problem struct {
	Type   string `json:"type,omitempty"` // "about:blank" when empty
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Current is the subscription URL of a feed that was reset.
	Current string `json:"current,omitempty"`
}

// problem answers with a problem document of the given status and detail,
// titled with the status text.
func (h *Handler) problem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	h.writeProblem(w, r, problem{Title: http.StatusText(status), Status: status, Detail: detail})
}

func (h *Handler) writeProblem(w http.ResponseWriter, r *http.Request, p problem) {
	if p.Status >= 500 {
		h.stats.serverErrors.Add(1)
	} else {
		h.stats.clientErrors.Add(1)
	}
	body, err := json.Marshal(p)
	if err != nil {
		// Strings and ints always marshal; keep the status regardless.
		body = []byte(`{"title":"` + http.StatusText(p.Status) + `","status":` + strconv.Itoa(p.Status) + `}`)
	}
	body = append(body, '\n')
	hdr := w.Header()
	delete(hdr, "Etag")
	delete(hdr, "Last-Modified")
	delete(hdr, "Content-Encoding")
	hdr["Content-Type"] = problemType
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	// Errors are not cached: a page missing now exists after the next
	// appends, and an error of the store passes.
	hdr["Cache-Control"] = noStoreCC
	hdr["X-Content-Type-Options"] = nosniff
	dropBody(w, r)
	w.WriteHeader(p.Status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}
