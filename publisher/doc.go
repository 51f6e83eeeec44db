// Package publisher serves the feeds of a store.Log over HTTP: Atom
// documents (RFC 4287) split into archive pages (RFC 5005), an AtomPub
// service document and appends (RFC 5023), ETags, long polls and gzip.
//
//	log := memory.NewLog(memory.Options{})
//	h, err := publisher.New(log, publisher.Config{})
//	…
//	mux.Handle("/feeds/", http.StripPrefix("/feeds", h))
//	srv.RegisterOnShutdown(h.Close)
//
// (With Config.Prefix "/feeds", mux.Handle("/feeds/", h) does the same
// without copying each request.)
//
// # URLs
//
// Paths are relative to where the Handler is mounted. A feed's page size
// N is fixed when its first event is stored; page k holds seqs
// (k-1)·N+1 … k·N. Each feed has an epoch, a random token that changes when
// its log is wiped and rebuilt, in every page and entry URL.
//
//	GET  /                               service document, one collection per feed
//	GET  /{feed}                         subscription document: the working page's entries
//	GET  /{feed}/{epoch}/pages/{k}       page k
//	GET  /{feed}/{epoch}/entries/{seq}   one entry document
//	POST /{feed}                         append an event (when Config.Authorize is set)
//
// A page is full once the head reaches its last seq: it is an archive
// (fh:archive) and never changes. The working page is the one after the
// last full page; when the head is exactly k·N, it is page k+1, empty, so
// that page k is an archive from the moment it is complete.
//
// The subscription document links self and current (itself), via (the
// working page's own URL), first (page 1) and prev-archive (the newest full
// page). A page links self, current (the subscription document),
// prev-archive (unless it is page 1) and, when full, next-archive. Every
// entry links to its entry document with rel="self". All documents of one
// epoch of a feed share one atom:id, a name-based UUID of the feed and its
// epoch.
//
// Links are relative references, resolved against the URL of the document
// holding them, unless Config.BaseURL is set: they never depend on the
// request, so that a spoofed Host header cannot end up in a page that
// caches keep forever. A page number or seq that does not exist (0,
// "abc", "007", beyond the head) is 404; so is an unknown feed, and a URL
// of another epoch, whose problem document has type eventfeed.ProblemFeedReset and
// names the current subscription URL.
//
// Negotiation: for the subscription document and pages, Accept chooses
// between Atom (the default), RSS 2.0 (application/rss+xml) and JSON Feed
// (application/feed+json or application/json).
//
// # Caching
//
// Full pages and entries are immutable: "Cache-Control: public,
// max-age=31536000, immutable" and a strong ETag hashed from their bytes.
// They are rendered once, gzipped once, and kept in an LRU cache
// (Config.PageCacheSize, Config.PageCacheBytes) with every header value
// they need, so that serving one is a lookup and one Write; concurrent
// misses of one document render it once. A consumer catching up reads the
// pages in turn, so serving a page that was not cached renders the next
// one in the background, and so on while the consumer keeps reading: it
// finds each page ready instead of waiting for its render.
//
// The subscription document and the working page change with the head.
// Their strong ETag is derived from the epoch, the head and the Config, and
// comes with Last-Modified (the newest event's time) and "Cache-Control:
// public, max-age=N, must-revalidate" (N from Config.CacheMaxAge, 0 by
// default). A request whose If-None-Match names the current head, or
// without one whose If-Modified-Since is exactly the current
// Last-Modified, is answered 304 from the head the Log keeps in memory,
// without reading an event. (Event times are set by their producers and
// may go backwards, and dates have a resolution of one second: ETags are
// the validator to rely on.) They are rendered once per head, on first
// request.
//
// Responses are gzipped when Accept-Encoding allows it; each coding has
// its own ETag. Vary names Accept-Encoding, and Accept where the format
// is negotiated. Errors are problem documents (RFC 9457,
// application/problem+json) and are not cached.
//
// # Long polling
//
// A GET of the subscription document or the working page carrying
// "Prefer: wait=N" (RFC 7240) and an If-None-Match that matches the
// current ETag is held until the feed's head moves, then answered with the
// new document, or, after N seconds (at most Config.MaxWait, 30 s by
// default), answered 304. Both answers carry "Preference-Applied: wait=N"
// with the N applied. However many long polls wake at once, the new
// document is rendered once. A client going away ends its wait; Close
// ends them all, answering 304 at once: register it with
// http.Server.RegisterOnShutdown, as Shutdown waits for every active
// request.
//
// # Appending over HTTP
//
// With Config.Authorize set, POST /{feed} appends one event, creating the
// feed with its first event. Authorize decides: an error wrapping
// ErrUnauthorized answers 401 (with Config.Challenge), any other 403. The
// body is either
//
//   - an Atom entry document (Content-Type application/atom+xml, with
//     type=entry or no type): its first category's term is the event's
//     type, ef:subject its subject, atom:updated its time, atom:id its ID
//     and atom:content its data, as feed.Entry.Event reads them; or
//   - the event's data, of any other Content-Type, which becomes the
//     event's; the Event-Type header gives its type (required) and
//     Event-Subject its subject; the Log stamps the time.
//
// An Idempotency-Key header (a bare token or a quoted string) is the
// event's ID, before atom:id; without either the event gets a new
// urn:uuid. Sending an event again with the same ID stores it once and
// answers exactly as the first time: 201 Created, Location (the entry's
// URL) and the entry document. The same ID with other content is 409
// Conflict and stores nothing. Other failures: 400 for a malformed entry,
// an invalid event or feed name, a missing Event-Type; 413 for a body over
// Config.MaxBodyBytes; 415 for a missing Content-Type or an Atom feed
// document; 405 (Allow: GET, HEAD) when appending is not enabled.
//
// # Limits
//
//   - Config.MaxWait (30 s): the longest a long poll waits.
//   - Config.MaxBodyBytes (1 MiB): the largest append.
//   - Config.PageCacheSize (1024) and Config.PageCacheBytes (64 MiB): the
//     rendered archive pages and entries kept; the working page and the
//     subscription document of each feed are kept besides, at their
//     latest head.
//   - Config.PageSize: when set, feeds cut in pages of another size are
//     refused (500, eventfeed.ErrPageSizeMismatch in the log).
//
// Stats reports requests, 304s, cache hits and misses, renders, waiting
// long polls and appends; Config.Logger receives failures.
//
// # http-feeds
//
// Every feed is also served as an http-feed (https://www.http-feeds.org/)
// of CloudEvents 1.0, from the same Log: GET /{feed}/events with
// lastEventId and timeout, full batches at immutable
// /{feed}/{epoch}/batches/{k}, single events at /{feed}/{epoch}/events/{seq}
// (application/cloudevents+json). The subscription document links it as
// rel="alternate" type="application/cloudevents-batch+json". httpfeed.go
// states the mapping of Event to CloudEvent and the answers in full.
package publisher
