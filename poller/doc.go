// Package poller follows an Atom feed (RFC 4287, paged as RFC 5005
// archived feeds) into a [store.Replica], applying every entry exactly
// once, in order, with the replica's checkpoint committed in the same
// transaction as the entries' effects.
//
//	p, err := poller.New("https://orders.example.com/feeds/orders", replica, poller.Config{})
//	...
//	err = p.Run(ctx) // follows until ctx ends
//
// # Following a feed
//
// The Poller is driven by the feed's links; it never builds a URL. On a
// first run it fetches the subscription document (the source URL) and
// goes to its first link when it has one; otherwise it walks the
// prev-archive links back to the oldest page, remembering only their URLs
// (a small cache of decoded archive pages saves most fetches on the way
// back), and then applies the pages oldest first. From there it follows
// next-archive links; an archive without one continues at its current
// link (the subscription document).
//
// Within a page, entries are applied in ef:seq order when every entry
// carries one (feeds of this project's publisher). Entries of other feeds
// are applied in atom:updated order, entries with equal times in the
// page's own direction, told from its entries whose times differ, else
// as learned from earlier pages (the checkpoint keeps it), else
// newest-first, the common convention. The same atom:id is applied once,
// whether it repeats on a page, across pages or across restarts: by
// ef:seq where present; else the checkpoint keeps the IDs applied last
// (Config.RecentIDs, and at least two pages of them), committed with the
// events, and what is new on a page is what they do not hold, not what
// follows the last entry (entries with equal times may come in another
// order on another read). One case stays beyond what a feed without
// seqs can tell: a single document that shows only its newest entries
// (no archives) and repeats an older entry after newer ones. If the
// entries between the checkpoint's entry and the newest slid out of the
// document while the repeated copy of the checkpoint's entry stays, the
// position looks held and the entries that slid out are missed. Poll
// such feeds often enough, or follow their archives. Feed and Type of the
// events applied come from Config.FeedName and the entry's first category
// (see feed.Entry.Event).
//
// Out-of-line content (atom:content with src) is fetched with the page,
// under the same rules as pages: origins, redirects, body size, retries;
// its type attribute (else the answer's Content-Type) is the event's
// ContentType. An entry whose content cannot be had (a 4xx, another
// origin, too large) is an ErrInvalidEntry once the entries before it
// are applied, or, with Config.DeadLetter, is parked.
//
// # Paged feeds
//
// A feed paged the RFC 5005 §3 way (first, last, previous and next links,
// no archive links), such as an EventStoreDB stream, is read from its
// last page (the oldest) by its previous links (towards newer entries),
// and a resume that does not find its entry on its page walks the next
// links back. Those links promise no order by themselves: the entries
// must carry ef:seq or IDs that end in their number ({stream}/{number},
// as EventStoreDB writes them; the event's Seq is that number + 1), and
// the numbers check the direction taken and that no entries are missing
// between pages. A paged feed without such numbers, or whose entries
// leave their content out (EventStoreDB sends it with ?embed=body on the
// stream's URL), is refused at once with ErrUnsupportedFeed. Long polls
// also send EventStoreDB's ES-LongPoll header.
//
// # Checkpoints and exactly-once
//
// Events go to Replica.Apply in batches: whole pages, several while far
// behind (Config.BatchSize), each batch with the checkpoint after its
// last event: the URL of the page it is on, its atom:id and its ef:seq.
// The replica commits both in one transaction, so after a crash at any
// point the next run resumes exactly after the last committed event.
// The page stored is one that stays valid: an archive's URL, or for the
// subscription document the working page's permanent URL (its via link),
// or the subscription document itself for feeds without via.
//
// A resume fetches that page and applies what follows the last entry
// (for a feed without seqs: what was not applied, from the pages before
// it too when they hold entries not applied, as a feed that repeats an
// entry on a later page can make it look). If
// the page no longer holds it (a subscription document that moved on),
// the Poller walks prev-archive links back until it finds it. When the
// page is gone (404, 410), the walk reaches the oldest page without
// finding it, or the entry's seq now names another entry, Sync and Run
// return an error wrapping eventfeed.ErrCheckpointLost, and also
// eventfeed.ErrFeedReset when the publisher answered that the feed was
// reset: events are never skipped silently. What to do then (rebuild the
// replica, or move its checkpoint) is the application's decision.
//
// While catching up, the next pages (Config.Prefetch) are fetched and
// decoded while the current one is applied, and the request for a page
// goes out as soon as the links of the page before it are read (they come
// before the entries in eventfeed's pages and most others), not once its
// entries are decoded. A page is applied only once it has been read
// completely, after the page before it, and only when that page's links
// lead to it; a page fetched ahead of one that fails is dropped.
//
// # At the head
//
// Once caught up, Run polls the subscription document with If-None-Match
// and "Prefer: wait=N" (RFC 7240, Config.Wait): a server that supports
// long polls holds the request until the feed changes, and the Poller asks
// again as soon as it answers. A server that answers at once without
// Preference-Applied is polled at intervals: its Cache-Control max-age,
// bounded by Config.MinInterval and Config.MaxInterval.
//
// # Faults
//
// Network errors, 5xx and 429 answers, and bodies cut short (a reset
// connection, a short Content-Length, a broken gzip stream, a document
// that ends early) are retried with capped exponential backoff and jitter
// (Config.Backoff), waiting at least what Retry-After asks, until the
// context ends or, with Config.MaxRetryTime, until they have gone on that
// long (ErrGaveUp). A replica whose projection fails (*store.ApplyError) has
// the batch retried the same way, never skipped; with Config.DeadLetter,
// an event that fails Config.MaxRetries times is parked (Replica.Park)
// and the Poller goes on. Other replica errors are retried too, except
// eventfeed.ErrClosed and store.ErrCheckpointMoved.
//
// One consumer per source and replica: the checkpoint's Version fences
// every commit (see store.Checkpoint), so that when two Pollers, in one
// process or two, follow the same source into the same replica, the one
// whose checkpoint the other moved stops with an error wrapping
// store.ErrCheckpointMoved instead of applying events a second time. A
// new Sync or Run resumes from the checkpoint the other committed.
//
// A feed is created by its first event, and a publisher answers 404 for
// it until then. On a first run (no checkpoint yet) Run takes a 404 of
// the source URL for that, and looks again with the same backoff (at most
// Config.MaxInterval apart), logging each miss; Sync, which catches up
// once, returns the 404 as an *HTTPError.
//
// Errors that retrying cannot cure end Sync and Run: eventfeed.ErrCheckpointLost,
// store.ErrCheckpointMoved,
// ErrCrossOrigin, ErrLinkLoop, ErrTooManyPages, ErrTooManyRedirects,
// ErrNotAFeed, ErrInvalidEntry, ErrUnsupportedFeed, feed.ErrTooLarge, a *feed.SyntaxError for
// a malformed document, and *HTTPError for a 4xx answer. Nothing of a bad
// page is applied; what came before it stays applied and checkpointed.
// Stats counts every error, retried or not, and the Logger records those
// retried (the error that ends Sync or Run is returned, and logged at
// debug level only).
//
// # Encrypted feeds
//
// An encrypted feed (see the publisher's documentation) carries the data
// of each event with a subject sealed under the subject's key: content of
// type application/jose, and a link
// rel="https://github.com/eventfeed/eventfeed/ns/1/rel/key" to the key.
// The Poller opens sealed events before the replica sees them: the
// projection gets each event as it was appended, its data and media type
// restored. Keys are fetched from the entries' key links (for an
// http-feed, from the feed's URL followed by "/keys/" and the subject),
// with "Authorization: Bearer Config.KeyToken" when it is set, as each
// page arrives and at the latest before the batch that needs them is
// applied, so that no replica transaction waits on a request; they are
// kept in memory only (Config.MaxKeys of them,
// least recently used dropped first), never in the replica.
//
//   - A subject that was erased (its key answers 410 Gone) has its events
//     handed on with no data and ContentType
//     eventfeed.EncryptedContentType: eventfeed.Event.Erased reports
//     them. The tombstone that erased it (Type eventfeed.TypeErased) is
//     an ordinary event, which the projection should take to remove what
//     it holds of the subject (sqlite.Latest does); it also drops the
//     subject's key from the Poller's memory.
//   - A key the publisher refuses (401, 403, 404, another 4xx, or a
//     document that is not the subject's key) stops Sync and Run with an
//     error wrapping ErrNoKey: the event is never skipped. Give the
//     Poller a KeyToken the publisher accepts and it goes on from there.
//     5xx, 429 and network failures of a key request are retried like
//     those of a page.
//   - Sealed data that does not open (altered, moved from another event or
//     subject, or sealed under another key) stops them with an error
//     wrapping eventfeed.ErrDecrypt; nothing of its batch is applied.
//
// Content of type application/jose without a key link is not sealed: it is
// handed on as it is. An http-feed has no such link, so its Poller takes
// every application/jose event with a subject as sealed.
//
// # Limits
//
// Every limit has a default (Config documents them): the body size after
// decompression (gzip is requested and inflated by the Poller so that a
// small compressed bomb cannot get past the limit), the pages one
// catch-up visits, the redirects followed, the time a request may take.
// Links and redirects must stay on the source's origin (scheme, host and
// port) unless Config allows others. A walk that visits a URL twice is a
// link loop. Only application/atom+xml, application/xml and text/xml
// answers are read, and text/plain or application/octet-stream ones whose
// body starts as an Atom feed (raw file hosts and object stores serve
// feeds so). Documents in ISO-8859-1 or windows-1252 (by the charset
// parameter, else the XML declaration) are decoded; other encodings than
// UTF-8 are refused with ErrNotAFeed.
//
// # http-feeds
//
// An HTTPFeed follows an http-feed (JSON arrays of CloudEvents scrolled by
// lastEventId) with the same Config, limits, retries and exactly-once
// commits; its checkpoint is the last event's id. Deletions reach the
// replica as events of Type TypeDeleted.
package poller
