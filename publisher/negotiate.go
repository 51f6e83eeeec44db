package publisher

import (
	"net/http"
	"strconv"
	"strings"
)

// The header parsers below scan header values in place: they run on every
// request, and a cached page is meant to be served without allocating.

// format is a representation of a feed document.
type format uint8

const (
	formatAtom format = iota
	formatRSS
	formatJSON
	numFormats
)

// coding is a content coding of a response body.
type coding uint8

const (
	identity coding = iota
	gzipped
)

// acceptsGzip tells whether the Accept-Encoding of hdr lets the response
// be gzipped (RFC 9110 §12.5.3): gzip (or x-gzip, or "*" when gzip is not
// named) with a q-value above zero and not below one given to identity.
func acceptsGzip(hdr http.Header) coding {
	vals := hdr["Accept-Encoding"]
	if len(vals) == 0 {
		return identity
	}
	qGzip, qIdentity, qAny := -1, -1, -1
	for _, v := range vals {
		for v != "" {
			var elem string
			elem, v = nextElem(v)
			name, q := mediaRange(elem)
			switch {
			case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
				qGzip = max(qGzip, q)
			case strings.EqualFold(name, "identity"):
				qIdentity = max(qIdentity, q)
			case name == "*":
				qAny = max(qAny, q)
			}
		}
	}
	if qGzip < 0 {
		qGzip = qAny
	}
	if qIdentity < 0 {
		// Identity is acceptable unless refused, but only a q-value given
		// to it (or to "*") ranks it against gzip.
		qIdentity = max(qAny, 0)
	}
	if qGzip > 0 && qGzip >= qIdentity {
		return gzipped
	}
	return identity
}

// Each representation of a feed document has URLs of its own, and no
// cacheable URL varies by Accept: several CDNs ignore Vary on anything but
// Accept-Encoding, and would hand a poller whichever format a browser or
// feed reader fetched first. The alternates are advertised in every Atom
// document by <link rel="alternate" type="…">.

// formatSegment names each alternate format in its URLs: /{feed}/{seg}
// for the subscription document, /{feed}/{epoch}/{seg}/{k} for page k.
var formatSegment = [numFormats]string{formatRSS: "rss", formatJSON: "json"}

// formatOf tells the representation r asks for from the route it matched
// (see (*Handler).routes); Accept plays no part.
func formatOf(r *http.Request) format {
	p := strings.TrimSuffix(r.Pattern, "/{k}")
	for fm := formatRSS; fm < numFormats; fm++ {
		seg := formatSegment[fm]
		if len(p) > len(seg) && p[len(p)-len(seg)-1] == '/' && p[len(p)-len(seg):] == seg {
			return fm
		}
	}
	return formatAtom
}

// nextElem splits a comma-separated header value into its first element,
// trimmed, and the rest. Quoted strings are not special: none of the
// fields it reads carries a comma inside quotes in practice, and a
// malformed element only loses its own meaning.
func nextElem(v string) (elem, rest string) {
	if i := strings.IndexByte(v, ','); i >= 0 {
		elem, rest = v[:i], v[i+1:]
	} else {
		elem = v
	}
	return strings.TrimSpace(elem), rest
}

// mediaRange splits an Accept or Accept-Encoding element into its value
// and its q-value in thousandths (1000 when absent, 0 when malformed).
func mediaRange(elem string) (string, int) {
	i := strings.IndexByte(elem, ';')
	if i < 0 {
		return elem, 1000
	}
	name, params := strings.TrimSpace(elem[:i]), elem[i+1:]
	q := 1000
	for params != "" {
		var p string
		if j := strings.IndexByte(params, ';'); j >= 0 {
			p, params = params[:j], params[j+1:]
		} else {
			p, params = params, ""
		}
		p = strings.TrimSpace(p)
		if len(p) >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' {
			q = parseQ(strings.TrimSpace(p[2:]))
		}
	}
	return name, q
}

// parseQ parses a qvalue (RFC 9110 §12.4.2) into thousandths; anything
// malformed counts as 0.
func parseQ(s string) int {
	if s == "" || len(s) > 5 || s[0] != '0' && s[0] != '1' {
		return 0
	}
	q := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return q
	}
	if s[1] != '.' {
		return 0
	}
	scale := 100
	for _, c := range []byte(s[2:]) {
		if c < '0' || c > '9' {
			return 0
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	return min(q, 1000)
}

// preferWait returns the N of a "wait=N" preference in hdr's Prefer
// fields (RFC 7240 §4.3: names are case-insensitive, the value may be
// quoted, preferences may carry parameters after ';'), or -1 when there is
// none or it is not a number.
func preferWait(hdr http.Header) int {
	for _, v := range hdr["Prefer"] {
		for v != "" {
			var elem string
			elem, v = nextElem(v)
			if i := strings.IndexByte(elem, ';'); i >= 0 {
				elem = elem[:i]
			}
			name, val, ok := strings.Cut(elem, "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "wait") {
				continue
			}
			val = strings.Trim(strings.TrimSpace(val), `"`)
			n, err := strconv.ParseUint(val, 10, 31)
			if err != nil {
				return -1
			}
			return int(n)
		}
	}
	return -1
}

// etagMatch reports whether any entity tag in the If-None-Match fields
// vals matches etag (a quoted strong tag) by the weak comparison RFC 9110
// §13.1.2 prescribes for If-None-Match: "W/" is ignored on either side.
// "*" matches.
func etagMatch(vals []string, etag string) bool {
	for _, v := range vals {
		for v != "" {
			v = strings.TrimLeft(v, " \t,")
			if v == "" {
				break
			}
			if v[0] == '*' {
				return true
			}
			if strings.HasPrefix(v, "W/") {
				v = v[2:]
			}
			if v == "" || v[0] != '"' {
				// Not an entity tag: skip to the next element.
				if i := strings.IndexByte(v, ','); i >= 0 {
					v = v[i+1:]
					continue
				}
				break
			}
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				break
			}
			if v[:end+2] == etag {
				return true
			}
			v = v[end+2:]
		}
	}
	return false
}

// parsePos parses a page number or seq from a URL: decimal digits without
// a leading zero, 1 or more. Anything else names no resource.
func parsePos(s string) (uint64, bool) {
	if s == "" || s[0] == '0' || len(s) > 20 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}
