// Package feed reads and writes the Atom documents of eventfeed: feeds
// and their archive pages (RFC 4287, RFC 5005), entry documents and
// AtomPub service documents (RFC 5023), plus RSS 2.0 and JSON Feed views
// of a feed for people's feed readers.
//
// It knows nothing of HTTP: the publisher decides which documents exist
// and what they link to; the poller decides which to fetch.
//
// # Documents
//
// [Feed] and [Entry] model the parts of Atom the project uses. Encode
// writes a Feed as an atom:feed document, EncodeEntry an Entry as an entry
// document, EncodeService a [Service] as a service document. The writers
// are deterministic — the same model always gives the same bytes, since
// archive pages are cached forever under their ETag — and every document
// validates against the RELAX NG schemas of RFC 4287 and RFC 5023. What
// would not (an entry without an author, a link type that is not a media
// type, …) is refused with [ErrInvalid] before anything is written.
//
// An event becomes an entry through [EntryFromEvent] and comes back through
// [Entry.Event]: its ID is atom:id, its type the term of an atom:category
// (and, with the subject, atom:title), its time atom:updated and
// atom:published, its position and subject the extension elements ef:seq
// and ef:subject in the namespace [NSEventfeed], which foreign readers
// ignore. Paging follows RFC 5005: links with the rels self, current, via,
// first, prev-archive and next-archive, and <fh:archive/> on the pages
// whose entries never change.
//
// The package owns its model instead of reusing another library's. The
// gorilla/feeds AtomFeed type has a single feed link, so it cannot carry
// an archive page's self, current, prev-archive and next-archive links,
// writes categories as element text where Atom requires a term attribute,
// and its generic Feed gives entries without an ID a random one (the same
// page rendered twice would differ). gofeed v1.4.2 returns escaped JSON
// content with its references undecoded, keeps only self and alternate
// links in its universal parser, has no size limit and no per-entry
// callback, and builds the text of foreign elements by repeated
// concatenation, so that a 300 KB document can make it allocate
// gigabytes. gorilla/feeds' item type serves the JSON Feed view
// (EncodeJSONFeed); its RSS renderer cannot write the atom:link rel="self"
// RSS validators ask for, so EncodeRSS writes RSS itself. gofeed's Atom
// parser is what the tests use as an independent reader of what Encode
// writes.
//
// # Content
//
// atom:content carries an event's data as RFC 4287 §4.1.3.3 says:
//
//   - XML media types (text/xml, application/xml, anything ending in /xml
//     or +xml) go inline as XML when the data is one element that declares
//     every namespace it uses (otherwise it would change meaning inside the
//     Atom document); other XML data goes in as text, in CDATA.
//   - text/* goes in as text.
//   - Every other type, JSON included, goes in as Base64 under its own
//     media type (rule 7), and the entry gets a summary, the title, as
//     §4.1.1.1 requires then.
//
// JSON in Base64 is what the W3C Feed Validator accepts and what readers
// following the RFC decode: Python's feedparser, Ruby's rss and ROME hand
// over the JSON text; gofeed hands over the Base64 as written (it decodes
// only types it knows to be binary). The other form weighed, type="text"
// with the media type in an extension element, is valid too and 11%
// smaller, but every reader would see text/plain data and only this
// package would know it is JSON; gzip, which the publisher applies, leaves
// Base64 about 9% larger than inline JSON (BenchmarkContentForms).
//
// Reading, Content.Body is the decoded text for text and html, the inner
// XML as written (trimmed of surrounding white space) for xhtml and inline
// XML, and the decoded bytes for Base64. JSON written inline, as earlier
// versions of this package did (in CDATA) and as other writers do, is read
// too: Base64 never looks like JSON text or a JSON literal, so the two
// forms cannot be confused (content that is neither is a *SyntaxError).
// For xhtml, Entry.Event hands on what is inside the xhtml:div, which RFC
// 4287 says is not part of the content; titles and summaries of type
// xhtml are read the same way. Namespace declarations made outside
// atom:content are not copied into the inner XML.
//
// # Times
//
// Dates are written in UTC to the millisecond, with exactly three
// fractional digits or none (2026-11-26T09:30:13.500Z, 2026-11-26T09:30:14Z):
// ROME takes the fraction's digits as a count of milliseconds whatever
// their number, so that nine digits would move a date by days and ".5"
// would read as 5 ms.
// EntryFromEvent truncates an event's Time to the millisecond, as every
// store.Log does when it stores one (eventfeed.TimePrecision), so that an
// event read back from its feed equals the stored event.
//
// # Reading foreign feeds
//
// Decode and DecodeEntry read any Atom 1.0 document, not only those this
// package writes. The ef elements may be missing (Seq is then 0 and the
// poller orders by date); entries may come in any order; hrefs are kept
// as written, relative ones included (resolving them against the
// document's URL is the caller's business, see Feed.Resolve; xml:base is
// not applied). Leading and trailing white space of ids, dates, names,
// URIs and titles is dropped. Elements of other vocabularies, and Atom
// elements the model does not hold (atom:source, atom:contributor,
// atom:rights, …), are skipped without keeping their text. Only UTF-8
// documents are read.
//
// # Limits
//
// Decoding is streaming: Decode hands each entry to its callback as soon
// as the entry ends, and memory stays bounded by the largest entry, not
// the document. [DecodeOptions].Head hands over the feed's links (and the
// rest of what precedes its first entry) before the entries, so that a
// reader can ask for the next page while this one is still being read. [DecodeOptions] bounds the document's size
// ([DefaultMaxBytes], counted as read, so that an endless body is cut
// off with [ErrTooLarge] rather than truncated), its number of entries
// ([DefaultMaxEntries]) and the size of one entry
// ([DefaultMaxEntryBytes]). Nesting is limited to 256 elements, an
// element to 256 attributes, the namespace declarations in scope to
// 1024. The tokenizer accepts no DOCTYPE and expands no entity beyond XML's
// five predefined ones and character references. Malformed input gives a
// [*SyntaxError] with the byte offset, a document of the wrong kind
// [ErrNotAtom]; neither ever panics.
package feed
