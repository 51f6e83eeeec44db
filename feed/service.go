package feed

import (
	"fmt"
	"io"
)

// Service is an AtomPub service document (RFC 5023 §8): the workspaces of
// a server and the collections (here, feeds) in each.
type Service struct {
	Workspaces []Workspace
}

// Workspace groups collections under a title.
type Workspace struct {
	Title       string
	Collections []Collection
}

// Collection is one collection of a service document: a feed a client may
// read and, where Accept allows, append to.
type Collection struct {
	// Href is the collection's IRI: where its feed is read and where
	// entries are POSTed.
	Href  string
	Title string
	// Accept lists the media types the collection takes in a POST. None
	// means Atom entries only (RFC 5023 §8.3.4); an empty string writes an
	// empty app:accept, which tells clients it takes nothing.
	Accept []string
	// Categories are the categories entries may have; Fixed says they are
	// the only ones allowed.
	Categories []Category
	Fixed      bool
}

// EncodeService writes s as an AtomPub service document
// (application/atomsvc+xml), deterministic like Encode. The AtomPub
// namespace is the default one and Atom's is bound to the prefix atom.
// RFC 5023 requires at least one workspace: EncodeService returns an error
// wrapping ErrInvalid, and writes nothing, when s has none.
func EncodeService(w io.Writer, s *Service) error {
	if len(s.Workspaces) == 0 {
		return fmt.Errorf("%w: service document without a workspace", ErrInvalid)
	}
	buf := make([]byte, 0, 1024)
	buf = append(buf, xmlHeader...)
	buf = append(buf, `<service xmlns="`+NSApp+`" xmlns:atom="`+NS+`">`...)
	for _, ws := range s.Workspaces {
		buf = append(buf, "\n  <workspace>"...)
		buf = appendElem(buf, "\n    ", "atom:title", ws.Title)
		for _, c := range ws.Collections {
			buf = append(buf, "\n    <collection href=\""...)
			buf = appendAttr(buf, c.Href)
			buf = append(buf, `">`...)
			buf = appendElem(buf, "\n      ", "atom:title", c.Title)
			for _, a := range c.Accept {
				if a == "" {
					buf = append(buf, "\n      <accept/>"...)
					continue
				}
				buf = appendElem(buf, "\n      ", "accept", a)
			}
			if len(c.Categories) > 0 || c.Fixed {
				buf = append(buf, "\n      <categories"...)
				if c.Fixed {
					buf = append(buf, ` fixed="yes"`...)
				}
				if len(c.Categories) == 0 {
					buf = append(buf, "/>"...)
				} else {
					buf = append(buf, '>')
					for _, cat := range c.Categories {
						buf = append(buf, "\n        <atom:category term=\""...)
						buf = appendAttr(buf, cat.Term)
						if cat.Scheme != "" {
							buf = append(buf, `" scheme="`...)
							buf = appendAttr(buf, cat.Scheme)
						}
						if cat.Label != "" {
							buf = append(buf, `" label="`...)
							buf = appendAttr(buf, cat.Label)
						}
						buf = append(buf, `"/>`...)
					}
					buf = append(buf, "\n      </categories>"...)
				}
			}
			buf = append(buf, "\n    </collection>"...)
		}
		buf = append(buf, "\n  </workspace>"...)
	}
	buf = append(buf, "\n</service>\n"...)
	_, err := w.Write(buf)
	return err
}
