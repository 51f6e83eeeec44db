package publisher

import "github.com/eventfeed/eventfeed/feed"

// altDocAt maps where an Atom feed document is served to where its
// alternates are.
var altDocAt = [...]docAt{subscriptionDoc: altSubDoc, pageDoc: altPageDoc}

// alternateTypes are the media types of the alternates, by format.
var alternateTypes = [numFormats]string{formatRSS: feed.MediaTypeRSS, formatJSON: feed.MediaTypeJSONFeed}

// appendAlternates appends to links the rel="alternate" links of an Atom
// document (the subscription document when sub, else page k) to the same
// document in every other format, each at URLs of its own.
func (h *Handler) appendAlternates(links []feed.Link, l linker, name string, k uint64, sub bool) []feed.Link {
	for fm := formatRSS; fm < numFormats; fm++ {
		href := l.in(fm).page(k)
		if sub {
			href = l.in(fm).subscription(name)
		}
		links = append(links, feed.Link{Rel: feed.RelAlternate, Type: alternateTypes[fm], Href: href})
	}
	return links
}
