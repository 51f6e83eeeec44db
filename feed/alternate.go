package feed

import (
	"encoding/json"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/feeds"
)

// Media types of the alternate representations.
const (
	MediaTypeRSS      = "application/rss+xml"
	MediaTypeJSONFeed = "application/feed+json"
)

// The RSS and JSON Feed views are for people's feed readers, which
// subscribe to nothing else. They carry what such readers show and what
// their validators ask for: each entry's ID, title, link, type (RSS
// category, JSON Feed tag), dates in the format's own syntax, and its
// content as text or HTML. Paging, ef:seq and ef:subject stay in Atom.
//
// Their URLs come from f's links, in the view's own URL space: self is
// the view's own URL, prev-archive the page of older entries (JSON Feed's
// next_url), an entry's self link its Atom entry document. RSS 2.0 and
// JSON Feed want absolute URLs; this package writes the hrefs it is given.
//
// gorilla/feeds' RSS renderer cannot write atom:link rel="self", which
// the RSS validator asks for, nor a category's domain, and its generic
// Feed drops the paging link JSON Feed needs: RSS is written here, and
// JSON Feed with gorilla/feeds' item type under a top level of our own
// (its JSONFeed omits an empty item list, which JSON Feed requires).

// EncodeRSS writes f as an RSS 2.0 document:
//
//   - the channel's link is f's alternate link, else its current link
//     (the RSS subscription document), else self; atom:link rel="self"
//     is f's self link; lastBuildDate is f.Updated;
//   - each item has the entry's title, its self link (its Atom entry
//     document) as link, its ID as a guid that is not a permalink, its
//     first category as category (with the scheme as domain), its
//     Published date (Updated when zero) as pubDate, and its content as an
//     HTML description: text and JSON shown preformatted, HTML as it is,
//     other data replaced by the summary.
//
// RSS dates have a resolution of one second (RFC 822). The same Feed
// always gives the same bytes.
func EncodeRSS(w io.Writer, f *Feed) error {
	const ind = "\n    "
	buf := make([]byte, 0, feedSizeHint(f)*3/2)
	buf = append(buf, xmlHeader...)
	buf = append(buf, `<rss version="2.0" xmlns:atom="`+NS+`">`+"\n  <channel>"...)
	buf = appendElem(buf, ind, "title", f.Title)
	link := f.Link(RelAlternate)
	if link == "" {
		link = f.Link(RelCurrent)
	}
	if link == "" {
		link = f.Link(RelSelf)
	}
	buf = appendElem(buf, ind, "link", link)
	buf = appendElem(buf, ind, "description", f.Title)
	if !f.Updated.IsZero() {
		buf = appendElem(buf, ind, "lastBuildDate", rssDate(f.Updated))
	}
	if self := f.Link(RelSelf); self != "" {
		buf = append(buf, ind+`<atom:link rel="self" type="`+MediaTypeRSS+`" href="`...)
		buf = appendAttr(buf, self)
		buf = append(buf, `"/>`...)
	}
	const iind = "\n      "
	for i := range f.Entries {
		e := &f.Entries[i]
		buf = append(buf, ind+"<item>"...)
		buf = appendElem(buf, iind, "title", e.Title)
		if href := entryLink(e); href != "" {
			buf = appendElem(buf, iind, "link", href)
		}
		text, isHTML := readable(e)
		if !isHTML {
			text = "<pre>" + htmlEscaper.Replace(text) + "</pre>"
		}
		buf = appendElem(buf, iind, "description", text)
		if len(e.Categories) > 0 {
			c := e.Categories[0]
			buf = append(buf, iind+"<category"...)
			if c.Scheme != "" {
				buf = append(buf, ` domain="`...)
				buf = appendAttr(buf, c.Scheme)
				buf = append(buf, '"')
			}
			buf = append(buf, '>')
			buf = appendText(buf, c.Term)
			buf = append(buf, "</category>"...)
		}
		buf = append(buf, iind+`<guid isPermaLink="false">`...)
		buf = appendText(buf, e.ID)
		buf = append(buf, "</guid>"...)
		buf = appendElem(buf, iind, "pubDate", rssDate(entryPublished(e)))
		buf = append(buf, ind+"</item>"...)
	}
	buf = append(buf, "\n  </channel>\n</rss>\n"...)
	_, err := w.Write(buf)
	return err
}

// rssDate formats t as RFC 822 (with a four-digit year, as RSS 2.0 uses
// it), in UTC.
func rssDate(t time.Time) string { return t.UTC().Format(time.RFC1123Z) }

// jsonFeedVersion is the version of JSON Feed that EncodeJSONFeed writes.
const jsonFeedVersion = "https://jsonfeed.org/version/1.1"

// jsonFeed is a JSON Feed 1.1 document.
type jsonFeed struct {
	Version     string              `json:"version"`
	Title       string              `json:"title"`
	HomePageURL string              `json:"home_page_url,omitempty"`
	FeedURL     string              `json:"feed_url,omitempty"`
	NextURL     string              `json:"next_url,omitempty"`
	Authors     []*feeds.JSONAuthor `json:"authors,omitempty"`
	Items       []*jsonItem         `json:"items"`
}

// jsonItem is gorilla/feeds' item with dates written to the millisecond,
// as in the Atom documents.
type jsonItem struct {
	*feeds.JSONItem
	Published string `json:"date_published,omitempty"`
	Modified  string `json:"date_modified,omitempty"`
}

// EncodeJSONFeed writes f as a JSON Feed 1.1 document: feed_url is f's
// self link, next_url its prev-archive link (the page of older entries,
// so that a reader following next_url pages through the whole archive),
// home_page_url its alternate link. Each item has the entry's ID, its self
// link as url, its title, its categories' terms as tags, its dates (RFC
// 3339, as in Atom), and its content as content_text (text and JSON,
// exactly), content_html (HTML) or, for other data, the summary as
// content_text. The same Feed always gives the same bytes.
func EncodeJSONFeed(w io.Writer, f *Feed) error {
	jf := jsonFeed{
		Version:     jsonFeedVersion,
		Title:       f.Title,
		HomePageURL: f.Link(RelAlternate),
		FeedURL:     f.Link(RelSelf),
		NextURL:     f.Link(RelPrevArchive),
		Items:       make([]*jsonItem, len(f.Entries)),
	}
	for _, p := range f.Authors {
		jf.Authors = append(jf.Authors, &feeds.JSONAuthor{Name: p.Name, Url: p.URI})
	}
	for i := range f.Entries {
		e := &f.Entries[i]
		it := &jsonItem{JSONItem: &feeds.JSONItem{Id: e.ID, Url: entryLink(e), Title: e.Title}}
		for _, c := range e.Categories {
			it.Tags = append(it.Tags, c.Term)
		}
		if !e.Updated.IsZero() {
			it.Modified = string(appendRFC3339(nil, e.Updated))
		}
		it.Published = string(appendRFC3339(nil, entryPublished(e)))
		if text, isHTML := readable(e); isHTML {
			it.ContentHTML = text
		} else {
			it.ContentText = text
		}
		if it.ContentText == "" && it.ContentHTML == "" {
			// JSON Feed requires one of them, and omits empty strings.
			it.ContentText = e.Title
		}
		jf.Items[i] = it
	}
	b, err := json.MarshalIndent(&jf, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// entryLink returns the link of e that a feed reader should open: its
// self link (the entry document), else its alternate.
func entryLink(e *Entry) string {
	if href := e.Link(RelSelf); href != "" {
		return href
	}
	return e.Link(RelAlternate)
}

// entryPublished returns e's Published date, or Updated when it has none.
func entryPublished(e *Entry) time.Time {
	if e.Published.IsZero() {
		return e.Updated
	}
	return e.Published
}

// htmlEscaper escapes text for HTML, leaving quotes alone (they need no
// escaping outside attributes, and JSON is full of them).
var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// readable returns what a person reading the feed should see of e's
// content, and whether it is HTML.
func readable(e *Entry) (string, bool) {
	ev, err := e.Event("")
	switch k := kindOf(e.Content.Type); {
	case err != nil || k == kindBase64 || !utf8.Valid(ev.Data):
		if e.Summary != "" {
			return e.Summary, false
		}
		return e.Title, false
	case k == kindHTML || k == kindXHTML:
		return string(ev.Data), true
	default:
		return string(ev.Data), false
	}
}
