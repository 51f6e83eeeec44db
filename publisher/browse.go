package publisher

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/publisher/internal/browse"
	"github.com/eventfeed/eventfeed/store"
)

// The HTML views (Config.Browse) live under this path segment, which no
// feed name can be ("~" is not in [a-z0-9._-]), and mirror the feeds' own
// URLs below it:
//
//	~/                              index of the feeds
//	~/{feed}                        the newest events, following appends
//	~/{feed}/{epoch}/pages/{k}      page k, newest first
//	~/{feed}/{epoch}/entries/{seq}  one event
//	~/static/{file}                 the views' script and style sheet
//
// They are never chosen by Accept: each view has its own URL, so a cache
// that ignores Vary can never hand a poller HTML.
const browseSeg = "~"

// Limits of the views.
const (
	// browsePayloadLimit is how many bytes of an event's data a page of
	// events shows; an event's own view shows all of it.
	browsePayloadLimit = 4 << 10
	// lastMinuteCap bounds how many events the index reads back to count
	// a feed's events of the last minute.
	lastMinuteCap = 500
)

var (
	htmlType     = []string{"text/html; charset=utf-8"}
	browseCSP    = []string{browse.CSP}
	noReferrer   = []string{"no-referrer"}
	frameDeny    = []string{"DENY"}
	staticCC     = []string{"public, max-age=3600"}
	browseRoutes = []string{
		"/{$}",
		"/{feed}",
		"/{feed}/{epoch}/pages/{k}",
		"/{feed}/{epoch}/entries/{seq}",
		"/static/{file}",
	}
)

func (h *Handler) browseRoutes() {
	m := http.NewServeMux()
	p := h.cfg.Prefix + "/" + browseSeg
	h.browseMux, h.browsePrefix = m, p+"/"
	m.HandleFunc("GET "+p+"/{$}", h.browseIndex)
	m.HandleFunc("GET "+p+"/{feed}", h.browseHead)
	m.HandleFunc("GET "+p+"/{feed}/{epoch}/pages/{k}", h.browsePage)
	m.HandleFunc("GET "+p+"/{feed}/{epoch}/entries/{seq}", h.browseEntry)
	m.HandleFunc("GET "+p+"/static/{file}", h.browseStatic)
	get := h.methodNotAllowed(allowGet)
	for _, r := range browseRoutes {
		m.HandleFunc(p+r, get)
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.problem(w, r, http.StatusNotFound, "no such view: see the index at "+browseSeg+"/")
	})
}

// browseLinks makes the hrefs of the views, relative to the view being
// served like every other link of the Handler (or under Config.BaseURL),
// so that no Host header ends up in a view that caches keep.
type browseLinks struct {
	root string // the Handler's root, as seen from the view
}

func (h *Handler) browseLinks(at docAt) browseLinks {
	if h.base != "" {
		return browseLinks{root: h.base}
	}
	switch at {
	case serviceDoc:
		return browseLinks{root: "../"}
	case pageDoc, entryDoc:
		return browseLinks{root: "../../../../"}
	default: // a feed's head view, ~/{feed}
		return browseLinks{root: "../"}
	}
}

func (l browseLinks) static() string { return l.root + browseSeg + "/static/" }
func (l browseLinks) index() string  { return l.root + browseSeg + "/" }
func (l browseLinks) feed(name string) string {
	return l.root + browseSeg + "/" + name
}
func (l browseLinks) page(f store.Feed, k uint64) string {
	return l.root + browseSeg + "/" + f.Name + "/" + url.PathEscape(f.Epoch) + "/pages/" + strconv.FormatUint(k, 10)
}
func (l browseLinks) entry(f store.Feed, seq uint64) string {
	return l.root + browseSeg + "/" + f.Name + "/" + url.PathEscape(f.Epoch) + "/entries/" + strconv.FormatUint(seq, 10)
}
func (l browseLinks) atomFeed(name string) string { return l.root + name }
func (l browseLinks) atomPage(f store.Feed, k uint64) string {
	return l.root + f.Name + "/" + url.PathEscape(f.Epoch) + "/pages/" + strconv.FormatUint(k, 10)
}
func (l browseLinks) atomEntry(f store.Feed, seq uint64) string {
	return l.root + f.Name + "/" + url.PathEscape(f.Epoch) + "/entries/" + strconv.FormatUint(seq, 10)
}

// htmlAlternate is the href of the HTML view of a document of kind of f
// (page or entry n), in a document served at at: the rel="alternate"
// type="text/html" link of every Atom document when Config.Browse is set.
func (h *Handler) htmlAlternate(f store.Feed, at, kind docAt, n uint64) string {
	root := h.base
	if root == "" && (at == pageDoc || at == entryDoc) {
		root = "../../../"
	}
	b := browseLinks{root: root}
	switch kind {
	case serviceDoc:
		return b.index()
	case subscriptionDoc:
		return b.feed(f.Name)
	case pageDoc:
		return b.page(f, n)
	default:
		return b.entry(f, n)
	}
}

func (h *Handler) browseFeed(f store.Feed, l browseLinks) browse.Feed {
	return browse.Feed{
		Name: f.Name, Epoch: f.Epoch, PageSize: f.PageSize, Head: f.Head, Updated: f.Updated,
		View: l.feed(f.Name), Atom: l.atomFeed(f.Name),
	}
}

// browseIndex answers GET ~/: every feed with its head, epoch, page size,
// newest event and how many events came in the last minute.
func (h *Handler) browseIndex(w http.ResponseWriter, r *http.Request) {
	feeds, err := h.log.Feeds(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l := h.browseLinks(serviceDoc)
	v := &browse.View{Kind: "index", Title: h.title, Static: l.static(), Home: l.index(), Atom: l.root}
	now := time.Now()
	for _, f := range feeds {
		bf := h.browseFeed(f, l)
		bf.LastMinute, bf.LastMinuteMore, err = h.lastMinute(r, f, now)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		v.Feeds = append(v.Feeds, bf)
	}
	h.serveView(w, r, v, h.headCC)
}

// lastMinute counts the events of f appended in the minute before now,
// reading back at most lastMinuteCap of them, and nothing at all when the
// newest is older than that.
func (h *Handler) lastMinute(r *http.Request, f store.Feed, now time.Time) (int, bool, error) {
	since := now.Add(-time.Minute)
	if f.Head == 0 || f.Updated.Before(since) {
		return 0, false, nil
	}
	from := uint64(1)
	if f.Head > lastMinuteCap {
		from = f.Head - lastMinuteCap + 1
	}
	events, err := h.log.Read(r.Context(), f.Name, from, f.Head)
	if err != nil {
		return 0, false, err
	}
	n := 0
	for i := len(events) - 1; i >= 0 && !events[i].Time.Before(since); i-- {
		n++
	}
	return n, n == lastMinuteCap, nil
}

// browseHead answers GET ~/{feed}: the working page, which follows new
// events by itself.
func (h *Handler) browseHead(w http.ResponseWriter, r *http.Request) {
	f, ok := h.lookup(w, r, r.PathValue("feed"))
	if !ok {
		return
	}
	l := h.browseLinks(subscriptionDoc)
	h.servePageView(w, r, f, f.Head/uint64(f.PageSize)+1, l, true)
}

// browsePage answers GET ~/{feed}/{epoch}/pages/{k}: immutable once the
// page is full, as its Atom document is.
func (h *Handler) browsePage(w http.ResponseWriter, r *http.Request) {
	f, ok := h.lookup(w, r, r.PathValue("feed"))
	if !ok || !h.checkEpoch(w, r, f, pageDoc) {
		return
	}
	k, ok := parsePos(r.PathValue("k"))
	working := f.Head/uint64(f.PageSize) + 1
	if !ok || k > working {
		h.problem(w, r, http.StatusNotFound, fmt.Sprintf("page %q of feed %q does not exist: its pages are 1 to %d", r.PathValue("k"), f.Name, working))
		return
	}
	h.servePageView(w, r, f, k, h.browseLinks(pageDoc), false)
}

func (h *Handler) servePageView(w http.ResponseWriter, r *http.Request, f store.Feed, k uint64, l browseLinks, live bool) {
	n := uint64(f.PageSize)
	from, to := (k-1)*n+1, min(k*n, f.Head)
	full := f.Head >= k*n
	var events []eventfeed.Event
	if from <= to {
		var err error
		if events, err = h.log.Read(r.Context(), f.Name, from, to); err != nil {
			h.fail(w, r, fmt.Errorf("publisher: read page %d of %s: %w", k, f.Name, err))
			return
		}
		if err := contiguous(events, from, to); err != nil {
			h.fail(w, r, fmt.Errorf("publisher: read page %d of %s: %w", k, f.Name, err))
			return
		}
	}
	working := f.Head/n + 1
	v := &browse.View{
		Kind: "feed", Title: h.feedTitle(f.Name), Static: l.static(), Home: l.index(),
		Atom: l.atomPage(f, k), Feed: h.browseFeed(f, l), Page: k, Full: full,
	}
	if live {
		v.Atom, v.Live = l.atomFeed(f.Name), l.atomFeed(f.Name)
	}
	if k < working {
		v.Nav = append(v.Nav, browse.Link{Href: l.page(f, k+1), Text: "Newer", Rel: "next"}, browse.Link{Href: l.feed(f.Name), Text: "Newest"})
	}
	if k > 1 {
		v.Nav = append(v.Nav, browse.Link{Href: l.page(f, k-1), Text: "Older", Rel: "prev"}, browse.Link{Href: l.page(f, 1), Text: "Oldest"})
	}
	v.Events = make([]browse.Event, len(events))
	for i := range events {
		v.Events[len(events)-1-i] = h.browseEvent(f, &events[i], l, browsePayloadLimit)
	}
	cc := h.headCC
	if full {
		cc = immutableCC
	}
	h.serveView(w, r, v, cc)
}

func (h *Handler) browseEvent(f store.Feed, ev *eventfeed.Event, l browseLinks, limit int) browse.Event {
	ctype := ev.ContentType
	if ctype == "" {
		ctype = "application/json"
	}
	return browse.Event{
		Seq: ev.Seq, ID: ev.ID, Type: ev.Type, Subject: ev.Subject, Time: ev.Time,
		ContentType: ctype, Size: len(ev.Data), Payload: browse.FormatPayload(ctype, ev.Data, limit),
		View: l.entry(f, ev.Seq), Atom: l.atomEntry(f, ev.Seq),
	}
}

// browseEntry answers GET ~/{feed}/{epoch}/entries/{seq}: one event, whole.
func (h *Handler) browseEntry(w http.ResponseWriter, r *http.Request) {
	f, seq, ok := h.lookupEntry(w, r)
	if !ok {
		return
	}
	events, err := h.log.Read(r.Context(), f.Name, seq, seq)
	if err == nil {
		err = contiguous(events, seq, seq)
	}
	if err != nil {
		h.fail(w, r, fmt.Errorf("publisher: read entry %d of %s: %w", seq, f.Name, err))
		return
	}
	l := h.browseLinks(entryDoc)
	k := (seq-1)/uint64(f.PageSize) + 1
	v := &browse.View{
		Kind: "event", Title: fmt.Sprintf("%s: event %d", h.feedTitle(f.Name), seq), Static: l.static(), Home: l.index(),
		Atom: l.atomEntry(f, seq), Feed: h.browseFeed(f, l),
		Events: []browse.Event{h.browseEvent(f, &events[0], l, 0)},
		Nav:    []browse.Link{{Href: l.page(f, k), Text: fmt.Sprintf("Page %d", k)}},
	}
	if seq > 1 {
		v.Nav = append(v.Nav, browse.Link{Href: l.entry(f, seq-1), Text: "Previous event", Rel: "prev"})
	}
	// Linked whether or not it exists yet: the view is immutable.
	v.Nav = append(v.Nav, browse.Link{Href: l.entry(f, seq+1), Text: "Next event", Rel: "next"})
	h.serveView(w, r, v, immutableCC)
}

// browseStatic answers GET ~/static/{file}.
func (h *Handler) browseStatic(w http.ResponseWriter, r *http.Request) {
	body, ctype, ok := browse.StaticFile(r.PathValue("file"))
	if !ok {
		h.problem(w, r, http.StatusNotFound, "no such file")
		return
	}
	hdr := w.Header()
	hdr["X-Content-Type-Options"] = nosniff
	h.serve(w, r, h.newRendition(body, []string{ctype}, "", time.Time{}, true), acceptsGzip(r.Header), staticCC, varyEncoding, http.StatusOK)
}

// serveView renders v and serves it with a strong ETag of its bytes and
// the headers that keep event data from ever running as script.
func (h *Handler) serveView(w http.ResponseWriter, r *http.Request, v *browse.View, cc []string) {
	var buf bytes.Buffer
	if err := browse.Render(&buf, v); err != nil {
		h.fail(w, r, fmt.Errorf("publisher: render %s view: %w", v.Kind, err))
		return
	}
	hdr := w.Header()
	hdr["Content-Security-Policy"] = browseCSP
	hdr["X-Content-Type-Options"] = nosniff
	hdr["Referrer-Policy"] = noReferrer
	hdr["X-Frame-Options"] = frameDeny
	h.serve(w, r, h.newRendition(buf.Bytes(), htmlType, "", time.Time{}, true), acceptsGzip(r.Header), cc, varyEncoding, http.StatusOK)
}
