package publisher

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/internal/seal"
	"github.com/eventfeed/eventfeed/store"
)

// MediaTypeJWK is the media type of a subject's key as the key endpoint
// serves it: a JSON Web Key (RFC 7517 §8.5.1).
const MediaTypeJWK = "application/jwk+json"

var jwkType = []string{MediaTypeJWK}

// keyring returns the store.Keyring of the Handler's Log: the Log itself,
// or the Log a wrapper (such as metrics.TimedLog) holds and hands out by
// an Unwrap method.
func (h *Handler) keyring() (store.Keyring, bool) {
	l := h.log
	for range 8 { // wrappers of wrappers, but no endless chain
		if kr, ok := l.(store.Keyring); ok {
			return kr, true
		}
		u, ok := l.(interface{ Unwrap() store.Log })
		if !ok {
			return nil, false
		}
		l = u.Unwrap()
	}
	return nil, false
}

// serveKey answers GET /{feed}/keys/{subject}: the data key of the
// subject as a JWK, never to be stored by a cache.
func (h *Handler) serveKey(w http.ResponseWriter, r *http.Request) {
	name, subject := r.PathValue("feed"), r.PathValue("subject")
	if h.cfg.AuthorizeKeys == nil {
		h.problem(w, r, http.StatusForbidden, "this publisher serves no keys: its operator has not said who may read them")
		return
	}
	if eventfeed.ValidateFeedName(name) != nil {
		h.problem(w, r, http.StatusNotFound, fmt.Sprintf("feed %q does not exist", name))
		return
	}
	// Authorization comes first: whether a subject exists, or was
	// erased, is for those who may read keys to learn.
	if !h.authorized(w, r, h.cfg.AuthorizeKeys, name, "read the keys of") {
		return
	}
	kr, ok := h.keyring()
	if !ok {
		h.problem(w, r, http.StatusNotFound, "this publisher's log keeps no keys: none of its feeds is encrypted")
		return
	}
	key, err := kr.Key(r.Context(), name, subject)
	switch {
	case errors.Is(err, eventfeed.ErrErased):
		h.writeProblem(w, r, problem{
			Type:   eventfeed.ProblemErased,
			Title:  "Subject erased",
			Status: http.StatusGone,
			Detail: fmt.Sprintf("the key of subject %q of feed %q was destroyed: its events can no longer be read", subject, name),
		})
		return
	case errors.Is(err, store.ErrKeyNotFound), errors.Is(err, eventfeed.ErrFeedNotFound):
		h.problem(w, r, http.StatusNotFound, fmt.Sprintf("feed %q has no key for subject %q", name, subject))
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	body := append(seal.MarshalJWK(subject, key.Secret), '\n')
	clear(key.Secret)
	hdr := w.Header()
	hdr["Content-Type"] = jwkType
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	// A key must never sit in a shared cache, where it would outlive its
	// erasure: no-store, for every cache on the way.
	hdr["Cache-Control"] = noStoreCC
	hdr["X-Content-Type-Options"] = nosniff
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
	clear(body)
}

// keyLink appends to links the link of a sealed event of f to its
// subject's key, for a document whose links l makes. Events stored in the
// clear get none.
func keyLink(links []feed.Link, l linker, f store.Feed, ev *eventfeed.Event) []feed.Link {
	if !f.Encrypted || ev.Subject == "" || ev.ContentType != eventfeed.EncryptedContentType {
		return links
	}
	return append(links, feed.Link{Rel: feed.RelKey, Type: MediaTypeJWK, Href: l.key(f.Name, ev.Subject)})
}

// key is the URL of the key of subject in feed name.
func (l linker) key(name, subject string) string {
	return l.root + name + "/keys/" + url.PathEscape(subject)
}
