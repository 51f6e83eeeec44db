package feed

import "net/url"

// Resolve makes the hrefs of f's links, of its entries' links and of
// out-of-line content absolute, resolving them against base, the URL f
// was fetched from (after redirects). An href that does not parse as a
// URI reference is left as it is. It cannot see the xml:base attributes
// of the document: pass the URL to Decode as DecodeOptions.Base instead,
// which applies them.
func (f *Feed) Resolve(base *url.URL) {
	resolveLinks(base, f.Links)
	for i := range f.Entries {
		f.Entries[i].Resolve(base)
	}
}

// Resolve makes the hrefs of e's links and the src of its content
// absolute, as Feed.Resolve does.
func (e *Entry) Resolve(base *url.URL) {
	resolveLinks(base, e.Links)
	if e.Content.Src != "" {
		e.Content.Src = resolve(base, e.Content.Src)
	}
}

func resolveLinks(base *url.URL, links []Link) {
	for i := range links {
		links[i].Href = resolve(base, links[i].Href)
	}
}

func resolve(base *url.URL, href string) string {
	u, err := url.Parse(href)
	if err != nil || u.IsAbs() {
		return href
	}
	return base.ResolveReference(u).String()
}
