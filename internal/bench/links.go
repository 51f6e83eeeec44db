package bench

import (
	"fmt"
	"html"
	"net/url"
	"regexp"
	"strings"
)

var (
	linkElem = regexp.MustCompile(`<(?:atom:)?link\b[^>]*>`)
	attr     = regexp.MustCompile(`\b(rel|href)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
)

// linkHref returns the href of the first link with relation rel in the
// Atom document doc, resolved against base. It reads the bytes with a
// regular expression: the scenarios need one link of a document the
// publisher wrote, not an Atom parser.
func linkHref(doc []byte, rel, base string) (string, error) {
	for _, el := range linkElem.FindAll(doc, -1) {
		var r, href string
		for _, m := range attr.FindAllSubmatch(el, -1) {
			v := string(m[2]) + string(m[3])
			if string(m[1]) == "rel" {
				r = v
			} else {
				href = html.UnescapeString(v)
			}
		}
		if r != rel || href == "" {
			continue
		}
		b, err := url.Parse(base)
		if err != nil {
			return "", err
		}
		u, err := b.Parse(href)
		if err != nil {
			return "", fmt.Errorf("bench: link %s: %w", rel, err)
		}
		return u.String(), nil
	}
	return "", fmt.Errorf("bench: no %s link in %.200q", rel, doc)
}

// pageURL returns the URL of page k, given the URL of page 1 (…/pages/1,
// the publisher's URL shape).
func pageURL(first string, k int) (string, error) {
	prefix, ok := strings.CutSuffix(first, "/1")
	if !ok {
		return "", fmt.Errorf("bench: first page %s does not end in /1", first)
	}
	return fmt.Sprintf("%s/%d", prefix, k), nil
}
