package browse

import (
	"bytes"
	"embed"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"mime"
	"strings"
	"time"
	"unicode/utf8"
)

// CSP is the Content-Security-Policy of every view: scripts, styles and
// requests of the publisher's own origin only, nothing inline, no frames,
// no forms.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Static holds the script and style sheet the views load, served at the
// path the views name as Static (app.js, app.css).
//
//go:embed static
var static embed.FS

// StaticFile returns the content and media type of a static file by name,
// and false for an unknown name.
func StaticFile(name string) ([]byte, string, bool) {
	var ctype string
	switch name {
	case "app.js":
		ctype = "text/javascript; charset=utf-8"
	case "app.css":
		ctype = "text/css; charset=utf-8"
	default:
		return nil, "", false
	}
	b, err := static.ReadFile("static/" + name)
	if err != nil {
		return nil, "", false
	}
	return b, ctype, true
}

//go:embed templates/*.html
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"utc":   utc,
	"iso":   iso,
	"clean": Clean,
	"dec":   func(n int) int { return n - 1 },
}).ParseFS(templateFS, "templates/*.html"))

// Feed is one row of the index.
type Feed struct {
	Name     string
	Epoch    string
	PageSize int
	Head     uint64
	Updated  time.Time
	// LastMinute counts the events of the last minute, up to
	// LastMinuteCap; LastMinuteMore says there may be more.
	LastMinute     int
	LastMinuteMore bool
	View           string // URL of the feed's view
	Atom           string // URL of its subscription document
}

// Event is an event as a view shows it.
type Event struct {
	Seq         uint64
	ID          string
	Type        string
	Subject     string
	Time        time.Time
	ContentType string
	Size        int
	Payload     Payload
	View        string // URL of the event's view
	Atom        string // URL of its entry document
}

// Link is a link of a view's navigation.
type Link struct {
	Href, Text, Rel string
}

// View is what one view shows. Kind selects the template: "index", "feed"
// or "event".
type View struct {
	Kind   string
	Title  string
	Static string // URL prefix of the static files, ending in "/"
	Home   string // URL of the index
	Atom   string // URL of the Atom document of the same content
	// Live, on a feed's head view, is the URL of the subscription
	// document that the page long-polls to follow new events.
	Live string

	Feeds []Feed // index

	// Feed, on a full page's or an event's view, which never change,
	// must not show Head or Updated.
	Feed   Feed    // feed and event views
	Page   uint64  // feed view: the page shown
	Full   bool    // feed view: the page is full (an archive)
	Nav    []Link  // feed view: newer, older, newest, oldest
	Events []Event // feed view: newest first; event view: the one event
}

// Render writes v as an HTML document.
func Render(w io.Writer, v *View) error {
	return templates.ExecuteTemplate(w, v.Kind+".html", v)
}

func utc(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
}

func iso(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// Clean returns s with every invalid UTF-8 sequence replaced by U+FFFD, so
// that what the browser shows is what the template escaped.
func Clean(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// Payload is event data ready to show: Kind says how ("json", "xml",
// "text", "binary") and Text holds it (indented JSON or XML, the text, or a
// hex dump). Cut says Text shows only the first Shown bytes of the data.
type Payload struct {
	Kind  string
	Text  string
	Cut   bool
	Shown int
}

// textEscaper escapes text for the content of an element, which is where
// the views put payloads: only &, < and > need it there. html/template
// escapes quotes too, which made a page of JSON events about a third
// larger.
var textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// HTML returns Text escaped for the content of an element (and only for
// that: the templates put it nowhere else).
func (p Payload) HTML() template.HTML { return template.HTML(textEscaper.Replace(p.Text)) }

// FormatPayload makes the Payload of data of media type ctype, showing at
// most limit bytes of data (0 for all of it): JSON and XML indented when
// they parse (as text when they do not), other text as it is, anything
// else as a hex dump.
func FormatPayload(ctype string, data []byte, limit int) Payload {
	p := Payload{Shown: len(data)}
	if limit > 0 && len(data) > limit {
		data, p.Cut, p.Shown = data[:limit], true, limit
	}
	mt, _, err := mime.ParseMediaType(ctype)
	if err != nil {
		mt = strings.ToLower(ctype)
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		var buf bytes.Buffer
		if !p.Cut && json.Indent(&buf, data, "", "  ") == nil {
			return Payload{Kind: "json", Text: Clean(buf.String()), Shown: p.Shown}
		}
		p.Kind, p.Text = "text", Clean(string(data))
	case mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"):
		if s, ok := indentXML(data); ok && !p.Cut {
			return Payload{Kind: "xml", Text: Clean(s), Shown: p.Shown}
		}
		p.Kind, p.Text = "text", Clean(string(data))
	case strings.HasPrefix(mt, "text/") && utf8.Valid(data):
		p.Kind, p.Text = "text", string(data)
	default:
		p.Kind, p.Text = "binary", hexDump(data)
	}
	return p
}

// indentXML re-indents an XML document, keeping its prefixes, attributes
// and text. It reports false for data that is not well-formed XML.
func indentXML(data []byte) (string, bool) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var b strings.Builder
	depth := 0
	inline := false // the element just opened holds text only, so far
	newline := func() {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strings.Repeat("  ", depth))
	}
	name := func(n xml.Name) string {
		if n.Space != "" {
			return n.Space + ":" + n.Local
		}
		return n.Local
	}
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			newline()
			b.WriteString("<" + name(t.Name))
			for _, a := range t.Attr {
				b.WriteString(" " + name(a.Name) + `="`)
				xml.EscapeText(&b, []byte(a.Value))
				b.WriteString(`"`)
			}
			b.WriteString(">")
			depth++
			inline = true
		case xml.EndElement:
			depth--
			if !inline {
				newline()
			}
			b.WriteString("</" + name(t.Name) + ">")
			inline = false
		case xml.CharData:
			if s := strings.TrimSpace(string(t)); s != "" {
				xml.EscapeText(&b, []byte(s))
			}
		case xml.Comment:
			newline()
			b.WriteString("<!--" + string(t) + "-->")
			inline = false
		case xml.ProcInst:
			newline()
			b.WriteString("<?" + t.Target + " " + string(t.Inst) + "?>")
		case xml.Directive:
			newline()
			b.WriteString("<!" + string(t) + ">")
		}
	}
	if depth != 0 {
		return "", false
	}
	return b.String(), true
}

// hexDump writes data as lines of offset, 16 bytes in hex and the
// printable ASCII of them, as hexdump -C does.
func hexDump(data []byte) string {
	var b strings.Builder
	for off := 0; off < len(data); off += 16 {
		line := data[off:min(off+16, len(data))]
		fmt.Fprintf(&b, "%08x  ", off)
		for i := range 16 {
			if i < len(line) {
				b.WriteString(hex.EncodeToString(line[i : i+1]))
				b.WriteByte(' ')
			} else {
				b.WriteString("   ")
			}
			if i == 7 {
				b.WriteByte(' ')
			}
		}
		b.WriteString(" |")
		for _, c := range line {
			if c < 0x20 || c > 0x7e {
				c = '.'
			}
			b.WriteByte(c)
		}
		b.WriteString("|\n")
	}
	return b.String()
}
