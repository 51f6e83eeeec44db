package feed

import (
	"io"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/feeds"
)

// Media types of the alternate representations.
const (
	MediaTypeRSS      = "application/rss+xml"
	MediaTypeJSONFeed = "application/feed+json"
)

// EncodeRSS writes f as an RSS 2.0 document, for the feed readers that
// subscribe to nothing else, through gorilla/feeds' renderer. It is a view
// for people: each item has the entry's title, its link (self, else
// alternate), its ID as a guid that is not a permalink, its dates, and
// its content as HTML (text shown preformatted; binary content replaced
// by the summary). Paging links and extensions are not carried. The same
// Feed always gives the same bytes.
func EncodeRSS(w io.Writer, f *Feed) error {
	g := genericFeed(f)
	for i := range f.Entries {
		text, isHTML := readable(&f.Entries[i])
		if !isHTML {
			text = "<pre>" + htmlEscaper.Replace(text) + "</pre>"
		}
		g.Items[i].Description = text
	}
	s, err := g.ToRss()
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, s+"\n")
	return err
}

// EncodeJSONFeed writes f as a JSON Feed 1.1 document through gorilla/feeds'
// renderer, with the same items as EncodeRSS: content_text for text and
// JSON content, content_html for HTML. The same Feed always gives the
// same bytes.
func EncodeJSONFeed(w io.Writer, f *Feed) error {
	g := genericFeed(f)
	jf := (&feeds.JSON{Feed: g}).JSONFeed()
	// The home page is the feed's alternate (HTML) page, if any; gorilla
	// takes the channel link, which falls back on the feed itself.
	jf.HomePageUrl = f.Link(RelAlternate)
	jf.FeedUrl = f.Link(RelSelf)
	for i, it := range jf.Items {
		text, isHTML := readable(&f.Entries[i])
		if isHTML {
			it.ContentHTML = text
		} else {
			it.ContentHTML, it.ContentText = "", text
		}
	}
	s, err := jf.ToJSON()
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, s+"\n")
	return err
}

// genericFeed maps f onto gorilla/feeds' generic Feed, setting every field
// its renderers would otherwise fill in at random or from the clock: each
// item has an ID and dates of its own.
func genericFeed(f *Feed) *feeds.Feed {
	link := f.Link(RelAlternate)
	if link == "" {
		link = f.Link(RelSelf)
	}
	g := &feeds.Feed{
		Title:       f.Title,
		Link:        &feeds.Link{Href: link},
		Description: f.Title,
		Id:          f.ID,
		Updated:     f.Updated.UTC(),
		Items:       make([]*feeds.Item, len(f.Entries)),
	}
	if len(f.Authors) > 0 && f.Authors[0].Email != "" {
		g.Author = &feeds.Author{Name: f.Authors[0].Name, Email: f.Authors[0].Email}
	}
	for i := range f.Entries {
		e := &f.Entries[i]
		href := e.Link(RelSelf)
		if href == "" {
			href = e.Link(RelAlternate)
		}
		it := &feeds.Item{
			Title:       e.Title,
			Link:        &feeds.Link{Href: href},
			Id:          e.ID,
			IsPermaLink: "false",
			Created:     e.Published.UTC(),
			Updated:     e.Updated.UTC(),
		}
		if e.Published.IsZero() {
			it.Created = it.Updated
		}
		if len(e.Authors) > 0 {
			it.Author = &feeds.Author{Name: e.Authors[0].Name, Email: e.Authors[0].Email}
		}
		g.Items[i] = it
	}
	return g
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
