package feed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// scanner is a streaming XML 1.0 tokenizer over a buffer of its own.
//
// It exists because encoding/xml, which reads its input one byte at a time
// through an interface call and allocates every name, reads a page of
// events at under a third of the speed the poller needs
// (BenchmarkDecodePage). The scanner finds markup with bytes.IndexByte and
// a byte table, hands out names, attribute values and text as slices of
// its buffer (copying only text that holds references or carriage
// returns), and never allocates per token.
//
// It checks what a non-validating parser must: well-formed tags, quoted
// attributes, matching end tags (in the decoder, which also resolves
// namespaces), UTF-8 made of XML characters, references limited to XML's
// five predefined entities and character references. It normalizes line
// ends and attribute white space as XML 1.0 §2.11 and §3.3.3 say. It
// refuses DOCTYPE declarations outright: Atom has no use for a DTD, and a
// parser that reads none cannot be made to expand entities (billion
// laughs) or fetch external ones. Text is handed out in pieces when it is
// longer than the buffer, so that skipping a foreign element of any size
// costs no memory.
type scanner struct {
	src  io.Reader
	buf  []byte
	pos  int   // next byte to scan, in buf
	end  int   // end of valid bytes in buf
	base int64 // offset of buf[0] in the input
	max  int64 // the most bytes the input may have
	err  error // sticky read error

	// The current token, set by next.
	kind  tokKind
	start int64  // offset of the token's first byte
	name  []byte // qualified name of a start or end tag
	attrs []attr // attributes of a start tag
	text  []byte // a piece of character data

	selfClose  bool // the start tag just read was <x/>
	pendingEnd bool // next returns the end of a self-closing tag
	inCDATA    bool
	bom        int64 // length of the byte order mark, 0 or 3
	arena      []byte

	// Capture of raw input, see startCapture.
	capturing bool
	spilled   bool
	capAt     int64
	capFrom   int
	capBuf    []byte
}

type tokKind uint8

const (
	tokStart tokKind = iota + 1
	tokEnd
	tokText
)

type attr struct {
	name  []byte
	value []byte
}

const scanChunk = 32 << 10

// maxAttrs bounds the attributes of one element (the check for repeated
// names is quadratic).
const maxAttrs = 256

func newScanner(src io.Reader, max int64) *scanner {
	return &scanner{src: src, buf: make([]byte, scanChunk), max: max}
}

// errLimit is what the scanner returns once the input has more than max
// bytes; the decoder turns it into ErrTooLarge with context.
var errLimit = errors.New("input over the size limit")

// syntax returns a *SyntaxError at offset off.
func syntaxAt(off int64, format string, args ...any) error {
	return &SyntaxError{Offset: off, Err: fmt.Errorf(format, args...)}
}

// fill reads more input, first discarding buf[:keep] (which the caller no
// longer needs: every index into buf moves down by the returned shift). It
// returns the read error only when no byte was added.
func (s *scanner) fill(keep int) (shift int, err error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.capturing && s.capFrom < keep {
		s.capBuf = append(s.capBuf, s.buf[s.capFrom:keep]...)
		s.spilled = true
		s.capFrom = keep
	}
	if keep > 0 {
		s.end = copy(s.buf, s.buf[keep:s.end])
		s.pos -= keep
		s.capFrom -= keep
		s.base += int64(keep)
	}
	if s.end == len(s.buf) {
		// One token longer than the buffer (a long tag): grow. The size
		// limit bounds it.
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	room := int64(len(s.buf) - s.end)
	// Read at most one byte past the limit: that byte proves the input
	// is too large.
	if left := s.max + 1 - (s.base + int64(s.end)); left < room {
		room = left
	}
	for {
		n, rerr := s.src.Read(s.buf[s.end : s.end+int(room)])
		s.end += n
		if s.base+int64(s.end) > s.max {
			s.end--
			s.err = errLimit
			return keep, s.err
		}
		if rerr != nil {
			s.err = rerr
			if n > 0 {
				return keep, nil
			}
			return keep, rerr
		}
		if n > 0 {
			return keep, nil
		}
	}
}

// ensure makes at least n bytes from pos available, unless the input ends
// first. It reports whether they are.
func (s *scanner) ensure(n int) (bool, error) {
	for s.end-s.pos < n {
		if _, err := s.fill(s.pos); err != nil {
			if err == io.EOF {
				return false, nil
			}
			return false, err
		}
	}
	return true, nil
}

// eofError turns a read error met inside a token into the error to return.
func (s *scanner) eofError(err error, what string) error {
	if err == io.EOF {
		return syntaxAt(s.base+int64(s.end), "unexpected end of document in %s", what)
	}
	return err
}

// startCapture starts recording the raw input from offset at, which must
// still be in the buffer (it is right after a start tag).
func (s *scanner) startCapture(at int64) {
	s.capturing, s.spilled = true, false
	s.capAt = at
	s.capFrom = int(at - s.base)
	s.capBuf = s.capBuf[:0]
}

// stopCapture stops recording and returns the raw input from the capture's
// start to offset to, valid until the next token.
func (s *scanner) stopCapture(to int64) []byte {
	s.capturing = false
	n := int(to - s.capAt)
	if !s.spilled {
		return s.buf[s.capFrom : s.capFrom+n]
	}
	if upto := int(to - s.base); upto > s.capFrom {
		s.capBuf = append(s.capBuf, s.buf[s.capFrom:upto]...)
	}
	return s.capBuf[:n]
}

// next reads the next token: a start tag, an end tag, or a piece of
// character data (CDATA sections included). Comments and processing
// instructions are skipped. At the end of the input it returns io.EOF.
func (s *scanner) next() error {
	s.arena = s.arena[:0]
	if s.pendingEnd {
		s.pendingEnd = false
		s.start = s.base + int64(s.pos)
		s.kind = tokEnd
		return nil
	}
	if s.base == 0 && s.pos == 0 {
		// A byte order mark may precede the XML declaration.
		if _, err := s.ensure(3); err != nil {
			return err
		}
		if bytes.HasPrefix(s.buf[:s.end], []byte("\xEF\xBB\xBF")) {
			s.pos = 3
			s.bom = 3
		}
	}
	for {
		s.start = s.base + int64(s.pos)
		if s.inCDATA {
			ok, err := s.scanText(true)
			if err != nil || ok {
				return err
			}
			continue
		}
		if s.pos == s.end {
			if _, err := s.fill(s.pos); err != nil {
				return err
			}
			continue
		}
		if s.buf[s.pos] != '<' {
			ok, err := s.scanText(false)
			if err != nil || ok {
				return err
			}
			continue
		}
		// Read no further ahead than the token needs: a streamed
		// document's last entry must not wait for bytes that follow it.
		if ok, err := s.ensure(2); err != nil || !ok {
			if err == nil {
				err = syntaxAt(s.start, "unexpected end of document after '<'")
			}
			return err
		}
		switch c := s.buf[s.pos+1]; {
		case c == '/':
			return s.endTag()
		case c == '?':
			if err := s.procInst(); err != nil {
				return err
			}
		case c == '!':
			if _, err := s.ensure(9); err != nil {
				return err
			}
			rest := s.buf[s.pos:s.end]
			switch {
			case bytes.HasPrefix(rest, []byte("<!--")):
				if err := s.skipPast(4, "--", "comment", true); err != nil {
					return err
				}
			case bytes.HasPrefix(rest, []byte("<![CDATA[")):
				s.pos += 9
				s.inCDATA = true
			case bytes.HasPrefix(rest, []byte("<!DOCTYPE")):
				return syntaxAt(s.start, "DOCTYPE declarations are not accepted")
			default:
				return syntaxAt(s.start, "invalid markup after '<!'")
			}
		default:
			return s.startTag()
		}
	}
}

// textByte marks the bytes that need no attention in character data.
var textByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = true
	}
	t['\t'], t['\n'] = true, true
	t['<'], t['&'], t[']'] = false, false, false
	return t
}()

// scanText reads character data up to the next '<' (or, in a CDATA
// section, up to "]]>"), or as much of it as the buffer holds. It reports
// whether it set a text token (false: the section ended with nothing to
// hand out).
func (s *scanner) scanText(cdata bool) (bool, error) {
	i := s.pos
	seg := s.pos      // start of the literal run not yet copied to arena
	copying := false  // whether the text is being built in arena
	done := false     // found the end of the text
	skipEnd := 0      // bytes of the terminator to skip ("]]>")
	needMore := false // the buffer ends inside a character or reference
	buf := s.buf
scan:
	for i < s.end {
		c := buf[i]
		if textByte[c] {
			i++
			continue
		}
		switch {
		case c == '<' && !cdata:
			done = true
			break scan
		case c == '<':
			i++
		case c == ']':
			if i+2 >= s.end {
				needMore = true
				break scan
			}
			if buf[i+1] == ']' && buf[i+2] == '>' {
				if cdata {
					done, skipEnd = true, 3
					break scan
				}
				return false, syntaxAt(s.base+int64(i), "\"]]>\" in text")
			}
			i++
		case c == '&' && !cdata:
			r, n, err := entityRef(buf[i:s.end], s.base+int64(i))
			if err != nil {
				return false, err
			}
			if n == 0 {
				needMore = true
				break scan
			}
			s.arena = append(s.arena, buf[seg:i]...)
			s.arena = utf8.AppendRune(s.arena, r)
			copying = true
			i += n
			seg = i
		case c == '&':
			i++
		case c == '\r':
			if i+1 >= s.end {
				needMore = true
				break scan
			}
			s.arena = append(s.arena, buf[seg:i]...)
			s.arena = append(s.arena, '\n')
			copying = true
			i++
			if buf[i] == '\n' {
				i++
			}
			seg = i
		case c >= utf8.RuneSelf:
			if !utf8.FullRune(buf[i:s.end]) {
				needMore = true
				break scan
			}
			r, n := utf8.DecodeRune(buf[i:s.end])
			if r == utf8.RuneError && n == 1 || !isXMLChar(r) {
				return false, syntaxAt(s.base+int64(i), "invalid character in text")
			}
			i += n
		default:
			return false, syntaxAt(s.base+int64(i), "invalid character %#x in text", c)
		}
	}
	if i == s.pos && !done {
		// Nothing complete in the buffer: read more and scan again.
		if _, err := s.fill(s.pos); err != nil {
			if err == io.EOF {
				if cdata {
					return false, syntaxAt(s.base+int64(s.end), "unexpected end of document in CDATA section")
				}
				if needMore {
					return false, syntaxAt(s.base+int64(i), "unexpected end of document in text")
				}
			}
			return false, err
		}
		return false, nil
	}
	if copying {
		s.arena = append(s.arena, buf[seg:i]...)
		s.text = s.arena
	} else {
		s.text = buf[s.pos:i]
	}
	s.pos = i + skipEnd
	if skipEnd > 0 {
		s.inCDATA = false
	}
	s.kind = tokText
	return len(s.text) > 0 || !done, nil
}

// entityRef decodes the reference at b[0] == '&'. n is 0 when b is too
// short to hold it; more input may complete it.
func entityRef(b []byte, off int64) (r rune, n int, err error) {
	semi := bytes.IndexByte(b[:min(len(b), 12)], ';')
	if semi < 0 {
		if len(b) < 12 {
			return 0, 0, nil
		}
		return 0, 0, syntaxAt(off, "unterminated reference")
	}
	name := b[1:semi]
	n = semi + 1
	switch string(name) {
	case "lt":
		return '<', n, nil
	case "gt":
		return '>', n, nil
	case "amp":
		return '&', n, nil
	case "apos":
		return '\'', n, nil
	case "quot":
		return '"', n, nil
	}
	if len(name) < 2 || name[0] != '#' {
		return 0, 0, syntaxAt(off, "undefined entity &%s;", name)
	}
	digits, radix := name[1:], rune(10)
	if digits[0] == 'x' {
		digits, radix = digits[1:], 16
	}
	if len(digits) == 0 {
		return 0, 0, syntaxAt(off, "invalid character reference &%s;", name)
	}
	for _, c := range digits {
		var v rune
		switch {
		case c >= '0' && c <= '9':
			v = rune(c - '0')
		case radix == 16 && c >= 'a' && c <= 'f':
			v = rune(c-'a') + 10
		case radix == 16 && c >= 'A' && c <= 'F':
			v = rune(c-'A') + 10
		default:
			return 0, 0, syntaxAt(off, "invalid character reference &%s;", name)
		}
		r = r*radix + v
		if r > utf8.MaxRune {
			return 0, 0, syntaxAt(off, "invalid character reference &%s;", name)
		}
	}
	if !isXMLChar(r) {
		return 0, 0, syntaxAt(off, "character reference &%s; is not an XML character", name)
	}
	return r, n, nil
}

// nameByte marks the ASCII bytes allowed in XML names; every byte from
// 0x80 up is accepted too (names are checked as UTF-8 loosely).
var nameByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['_'], t[':'], t['-'], t['.'] = true, true, true, true
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	return t
}()

// scanName returns the end of the name starting at b[i], or i if there is
// none. It checks the first character and the use of colons
// (Namespaces in XML: at most one, not first or last).
func scanName(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	if c := b[i]; !nameByte[c] || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':' {
		return i, false
	}
	j := i
	colons := 0
	for j < len(b) && nameByte[b[j]] {
		if b[j] == ':' {
			colons++
		}
		j++
	}
	if colons > 1 || b[j-1] == ':' {
		return j, false
	}
	if !utf8.Valid(b[i:j]) {
		return j, false
	}
	return j, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// tagEnd finds the '>' that ends the tag starting at pos, outside quoted
// attribute values, reading more input as needed. It returns its index.
func (s *scanner) tagEnd() (int, error) {
	i := s.pos + 1
	var quote byte
	for {
		for ; i < s.end; i++ {
			c := s.buf[i]
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				quote = c
			case c == '>':
				return i, nil
			case c == '<':
				return 0, syntaxAt(s.base+int64(i), "'<' inside a tag")
			}
		}
		shift, err := s.fill(s.pos)
		if err != nil {
			return 0, s.eofError(err, "tag")
		}
		i -= shift
	}
}

func (s *scanner) startTag() error {
	te, err := s.tagEnd()
	if err != nil {
		return err
	}
	b := s.buf[:te]
	i, ok := scanName(b, s.pos+1)
	if !ok {
		return syntaxAt(s.start, "invalid element name")
	}
	s.name = b[s.pos+1 : i]
	s.attrs = s.attrs[:0]
	s.selfClose = false
	// Decoded attribute values go to arena, sized so that it never moves
	// while the tag is parsed (values only shrink when decoded).
	if cap(s.arena) < te-s.pos {
		s.arena = make([]byte, 0, 2*(te-s.pos))
	}
	for {
		j := i
		for j < te && isSpace(b[j]) {
			j++
		}
		if j == te {
			break
		}
		if b[j] == '/' && j == te-1 {
			s.selfClose = true
			break
		}
		if j == i {
			return syntaxAt(s.base+int64(j), "want white space before attribute")
		}
		k, ok := scanName(b, j)
		if !ok {
			return syntaxAt(s.base+int64(j), "invalid attribute name in <%s>", s.name)
		}
		a := attr{name: b[j:k]}
		for k < te && isSpace(b[k]) {
			k++
		}
		if k == te || b[k] != '=' {
			return syntaxAt(s.base+int64(k), "attribute %s without value", a.name)
		}
		k++
		for k < te && isSpace(b[k]) {
			k++
		}
		if k == te || b[k] != '"' && b[k] != '\'' {
			return syntaxAt(s.base+int64(k), "unquoted value of attribute %s", a.name)
		}
		q := b[k]
		end := bytes.IndexByte(b[k+1:], q)
		if end < 0 {
			return syntaxAt(s.base+int64(k), "unterminated value of attribute %s", a.name)
		}
		v := b[k+1 : k+1+end]
		if a.value, err = s.attrValue(v, s.base+int64(k+1)); err != nil {
			return err
		}
		if len(s.attrs) == maxAttrs {
			return syntaxAt(s.start, "more than %d attributes in <%s>", maxAttrs, s.name)
		}
		for _, o := range s.attrs {
			if bytes.Equal(o.name, a.name) {
				return syntaxAt(s.base+int64(j), "attribute %s repeated", a.name)
			}
		}
		s.attrs = append(s.attrs, a)
		i = k + 2 + end
	}
	s.pos = te + 1
	s.kind = tokStart
	s.pendingEnd = s.selfClose
	return nil
}

// attrValue checks and decodes an attribute value: references, line ends
// and white space normalized to spaces (XML 1.0 §3.3.3).
func (s *scanner) attrValue(v []byte, off int64) ([]byte, error) {
	plain := true
	for _, c := range v {
		if !textByte[c] || c == '\t' || c == '\n' || c == '&' {
			plain = false
			break
		}
	}
	if plain {
		return v, nil
	}
	start := len(s.arena)
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case c == '<':
			return nil, syntaxAt(off+int64(i), "'<' in attribute value")
		case c == '&':
			r, n, err := entityRef(v[i:], off+int64(i))
			if err != nil {
				return nil, err
			}
			if n == 0 {
				return nil, syntaxAt(off+int64(i), "unterminated reference")
			}
			s.arena = utf8.AppendRune(s.arena, r)
			i += n
		case c == '\r':
			s.arena = append(s.arena, ' ')
			i++
			if i < len(v) && v[i] == '\n' {
				i++
			}
		case c == '\t' || c == '\n':
			s.arena = append(s.arena, ' ')
			i++
		case c < 0x20:
			return nil, syntaxAt(off+int64(i), "invalid character %#x in attribute value", c)
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(v[i:])
			if r == utf8.RuneError && n == 1 || !isXMLChar(r) {
				return nil, syntaxAt(off+int64(i), "invalid character in attribute value")
			}
			s.arena = append(s.arena, v[i:i+n]...)
			i += n
		default:
			s.arena = append(s.arena, c)
			i++
		}
	}
	return s.arena[start:len(s.arena):len(s.arena)], nil
}

func (s *scanner) endTag() error {
	te, err := s.tagEnd()
	if err != nil {
		return err
	}
	b := s.buf[:te]
	i, ok := scanName(b, s.pos+2)
	if !ok {
		return syntaxAt(s.start, "invalid end tag")
	}
	s.name = b[s.pos+2 : i]
	for ; i < te; i++ {
		if !isSpace(b[i]) {
			return syntaxAt(s.base+int64(i), "unexpected %q in end tag </%s>", b[i], s.name)
		}
	}
	s.pos = te + 1
	s.kind = tokEnd
	return nil
}

// skipPast skips from pos+from to just past the next delim followed by
// '>', discarding input as it goes (a comment or processing instruction
// of any size costs no memory). When strict, delim may not appear
// otherwise ("--" inside a comment).
func (s *scanner) skipPast(from int, delim, what string, strict bool) error {
	i := s.pos + from
	for {
		if k := bytes.Index(s.buf[i:s.end], []byte(delim)); k >= 0 {
			k += i + len(delim)
			switch {
			case k == s.end:
				i = k - len(delim) // read on to see what follows
			case s.buf[k] == '>':
				s.pos = k + 1
				return nil
			case strict:
				return syntaxAt(s.base+int64(k-len(delim)), "%q inside %s", delim, what)
			default:
				i = k
				continue
			}
		} else {
			i = max(i, s.end-len(delim)+1)
		}
		// Keep only what may still start the delimiter.
		s.pos = i
		shift, err := s.fill(i)
		if err != nil {
			return s.eofError(err, what)
		}
		i -= shift
	}
}

// procInst skips a processing instruction. The XML declaration, allowed
// only before the root, must declare UTF-8 (or say nothing of encoding):
// the scanner reads no other encoding.
func (s *scanner) procInst() error {
	// Enough to tell "<?xml" followed by white space from a longer target.
	if _, err := s.ensure(6); err != nil {
		return err
	}
	i, ok := scanName(s.buf[:s.end], s.pos+2)
	if !ok {
		return syntaxAt(s.start, "invalid processing instruction")
	}
	target := s.buf[s.pos+2 : i]
	if !bytes.EqualFold(target, []byte("xml")) {
		return s.skipPast(i-s.pos, "?", "processing instruction", false)
	}
	if s.start != s.bom || !bytes.Equal(target, []byte("xml")) {
		return syntaxAt(s.start, "XML declaration not at the start of the document")
	}
	te, err := s.tagEnd()
	if err != nil {
		return err
	}
	decl := s.buf[s.pos:te]
	if len(decl) < 2 || decl[len(decl)-1] != '?' {
		return syntaxAt(s.start, "malformed XML declaration")
	}
	if enc := pseudoAttr(decl, "encoding"); enc != "" {
		switch string(bytes.ToLower([]byte(enc))) {
		case "utf-8", "utf8", "us-ascii", "ascii":
		default:
			return syntaxAt(s.start, "encoding %q is not supported (only UTF-8)", enc)
		}
	}
	s.pos = te + 1
	return nil
}

// pseudoAttr returns the value of name="value" in an XML declaration.
func pseudoAttr(decl []byte, name string) string {
	i := bytes.Index(decl, []byte(name))
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(decl[i+len(name):], " \t\r\n")
	if len(rest) == 0 || rest[0] != '=' {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' && rest[0] != '\'' {
		return ""
	}
	end := bytes.IndexByte(rest[1:], rest[0])
	if end < 0 {
		return ""
	}
	return string(rest[1 : 1+end])
}
