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
//	GET  /{feed}/rss, /{feed}/json       the subscription document as RSS 2.0, JSON Feed 1.1
//	GET  /{feed}/{epoch}/rss/{k}         page k as RSS 2.0
//	GET  /{feed}/{epoch}/json/{k}        page k as JSON Feed 1.1
//	GET  /{feed}/keys/{subject}          a subject's key (when Config.AuthorizeKeys is set)
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
// # Alternates
//
// Every representation has URLs of its own, and no URL varies by Accept:
// several CDNs ignore Vary on anything but Accept-Encoding, and would hand
// a poller whichever format a browser fetched first. The subscription
// document and every page link to their RSS 2.0 and JSON Feed 1.1 forms
// with <link rel="alternate" type="application/rss+xml"> and
// type="application/feed+json"; those are cached like the Atom document
// they render (immutable for full pages), with ETags of their own. RSS
// carries atom:link rel="self", each event's type as a category and its
// ID as a guid; JSON Feed carries the type in tags, and next_url links
// each document to the page of older events, so that a reader can page
// through the whole archive. Their dates are in each format's syntax (RFC
// 822 to the second in RSS, RFC 3339 to the millisecond in JSON Feed).
//
// RSS 2.0 and JSON Feed want absolute URLs. With an absolute
// Config.BaseURL they have them; without one they carry the same relative
// references as the Atom documents (the publisher never builds a link
// from the request's Host header, which caches would keep forever), which
// most readers resolve against the document's URL but validators flag.
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
// comes with "Cache-Control: public, max-age=N, must-revalidate" (N from
// Config.CacheMaxAge, 0 by default). A request whose If-None-Match names the
// current head is answered 304 from the head the Log keeps in memory,
// without reading an event. They are rendered once per head, on first
// request.
//
// Only entry documents carry Last-Modified. A page's URL names other bytes
// while it fills, often several times within one second, and event times
// are set by their producers: a date cannot tell those versions apart, and
// a 304 for a full page carries "immutable". So pages and the subscription
// document are validated by their strong ETags alone, and If-Modified-Since
// without If-None-Match is answered with the document as it is now.
//
// Responses are gzipped when Accept-Encoding allows it; each coding has
// its own ETag. Vary names Accept-Encoding, and nothing else. Errors are problem documents (RFC 9457,
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
// An Idempotency-Key header (a bare token or a quoted string) names the
// append within its feed: the event's ID is then the name-based (version 5)
// UUID, in the URL name space, of
// "https://github.com/eventfeed/eventfeed/ns/1/feeds/{feed}/idempotency-keys/{key}"
// (the key path-escaped; KeyID computes it), so the same key sent to two
// feeds stores two events; clients sharing a feed must choose keys that differ (UUIDs). It
// takes precedence over atom:id. Without a key an Atom entry's atom:id is
// the ID as it is (RFC 4287 makes it universally unique: the same atom:id
// in two feeds is a conflict), and without either the event gets a new
// urn:uuid. Sending an event again with the same key, or ID, stores it
// once and answers exactly as the first time: 201 Created, Location (the
// entry's URL) and the entry document. The same key or ID with other
// content is 409 Conflict and stores nothing. Other failures: 400 for a
// malformed entry, an invalid event or feed name, a missing Event-Type;
// 408 for a body not sent within Config.BodyTimeout; 413 for a body over
// Config.MaxBodyBytes; 415 for a missing Content-Type or an Atom feed
// document; 405 (Allow: GET, HEAD) when appending is not enabled.
//
// # Browsing
//
// With Config.Browse the Handler also serves HTML views of the feeds for
// people, under "~/" (a segment no feed name can be), mirroring the feeds'
// URLs: "~/" lists the feeds, "~/{feed}" shows the newest events and
// follows appends through a long poll of the subscription document,
// "~/{feed}/{epoch}/pages/{k}" page k newest first, and
// "~/{feed}/{epoch}/entries/{seq}" one event. Every Atom document links to
// its view with rel="alternate" type="text/html". Views of full pages and
// of events are immutable and cached like archive pages; the others
// revalidate. Event data is escaped and shown as text (JSON and XML
// indented, binary as a hex dump), under a Content-Security-Policy that
// allows the views' own script and style sheet and nothing else.
//
// # Encrypted feeds
//
// A Log that is a store.Keyring may store a feed encrypted: the data of
// each event with a subject is sealed under that subject's key, as a JWE
// (RFC 7516) in compact serialization, "alg":"dir", "enc":"A256GCM", whose
// protected header names the plaintext's media type ("cty"), the subject
// ("kid") and the event's ID ("eid"). The publisher serves such events as
// they are stored: atom:content type="application/jose" (Base64, like
// every non-text type), and each such entry links to its subject's key:
//
//	<link rel="https://github.com/eventfeed/eventfeed/ns/1/rel/key"
//	      type="application/jwk+json" href="{feed}/keys/{subject}"/>
//
// relative like every link, the subject path-escaped. The key URL of a
// subject is always the feed's subscription URL followed by "/keys/" and
// the path-escaped subject, which is how a reader of the formats that
// carry no such link (the http-feed, whose events carry the JWE in
// data_base64) finds it. RSS 2.0 and JSON Feed show a sealed event like
// any other binary content: by its title, without data.
//
// GET /{feed}/keys/{subject} answers the key as a JSON Web Key (RFC 7517,
// application/jwk+json: {"kty":"oct","alg":"A256GCM","kid":subject,"k":…})
// with "Cache-Control: no-store", so that no cache keeps it past an
// erasure. Config.AuthorizeKeys decides who may read keys (401 with
// Config.Challenge, or 403); without it keys are not served (403). Then:
// 404 for a feed or subject without a key, or a Log that keeps none; 410
// Gone, with a problem document of type eventfeed.ProblemErased, once the
// subject was erased. Erasing appends a tombstone event (type
// eventfeed.TypeErased, the subject, no data), which the feed carries like
// any event; the pages already served, and cached, do not change.
//
// # Limits
//
//   - Config.MaxWait (30 s): the longest a long poll waits.
//   - Config.MaxBodyBytes (1 MiB): the largest append.
//   - Config.BodyTimeout (30 s): the longest read of a request's body
//     (then 408 and the connection closed); a request refused before its
//     body is read is answered at once, its connection closed.
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
