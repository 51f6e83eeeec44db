// Package problem writes the error answers of the example services as
// application/problem+json documents (RFC 9457), the format the publisher
// uses for its own errors.
package problem

import (
	"encoding/json"
	"net/http"
)

// MediaType is the media type of a problem document.
const MediaType = "application/problem+json"

// Details is a problem document.
type Details struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Write answers with status and a problem document whose detail is the
// human-readable explanation.
func Write(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", MediaType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(Details{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
	})
}
