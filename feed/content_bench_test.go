package feed_test

import (
	"bytes"
	"compress/gzip"
	"html"
	"regexp"
	"testing"

	"github.com/eventfeed/eventfeed/feed"
	"github.com/mmcdole/gofeed/atom"
)

// contentForm is one way of carrying JSON data in atom:content, as a
// 500-entry page of the benchmark feed.
type contentForm struct {
	name string
	// page returns the page in this form.
	page func() *feed.Feed
	// fix rewrites the encoded document where the model cannot express
	// the form.
	fix func([]byte) []byte
}

// contentForms are the representations weighed for JSON (RFC 4287
// §4.1.3.3 rule 7): Base64 under the true media type, what earlier
// versions wrote (JSON inline in CDATA, which the rule forbids), and
// type="text" with the media type in an extension element.
var contentForms = []contentForm{
	{name: "base64", page: func() *feed.Feed { return testPage(3, benchEntries, true) }},
	// Earlier versions' form can no longer be written: its encode figure
	// is that of the same text escaped, and the document to decode is
	// rewritten into CDATA.
	{name: "cdata-legacy", page: func() *feed.Feed {
		f := testPage(3, benchEntries, true)
		for i := range f.Entries {
			f.Entries[i].Content.Type = "text"
		}
		return f
	}, fix: func(b []byte) []byte {
		return textContent.ReplaceAllFunc(b, func(m []byte) []byte {
			body := textContent.FindSubmatch(m)[1]
			return []byte(`<content type="application/json"><![CDATA[` + html.UnescapeString(string(body)) + `]]></content>`)
		})
	}},
	{name: "text+ext", page: func() *feed.Feed {
		f := testPage(3, benchEntries, true)
		for i := range f.Entries {
			f.Entries[i].Content.Type = "text"
			f.Entries[i].Summary = ""
		}
		return f
	}, fix: func(b []byte) []byte {
		// The extension element naming the media type, as a writer of
		// this form would put it before atom:content.
		return bytes.ReplaceAll(b, []byte("\n    <content type=\"text\">"),
			[]byte("\n    <ef:type>application/json</ef:type>\n    <content type=\"text\">"))
	}},
}

var textContent = regexp.MustCompile(`<content type="text">([^<]*)</content>`)

func (c contentForm) doc(tb testing.TB) []byte {
	b := encode(tb, c.page())
	if c.fix != nil {
		b = c.fix(b)
	}
	return b
}

func gzipLen(b []byte) int {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(b)
	zw.Close()
	return buf.Len()
}

// BenchmarkContentForms measures each content form on a 500-entry page:
// page size (plain and gzipped at the publisher's level), and the time to
// encode it, to decode it, and for gofeed to parse it, in the same run.
func BenchmarkContentForms(b *testing.B) {
	for _, c := range contentForms {
		doc := c.doc(b)
		sizes := func(b *testing.B) {
			b.ReportMetric(float64(len(doc)), "page-B")
			b.ReportMetric(float64(gzipLen(doc)), "gzip-B")
		}
		b.Run(c.name+"/encode", func(b *testing.B) {
			f := c.page()
			var buf bytes.Buffer
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := feed.Encode(&buf, f); err != nil {
					b.Fatal(err)
				}
			}
			sizes(b)
			reportEntries(b, benchEntries)
		})
		b.Run(c.name+"/decode", func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				_, err := feed.Decode(bytes.NewReader(doc), feed.DecodeOptions{}, func(e *feed.Entry) error {
					_, err := e.Event("orders")
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			sizes(b)
			reportEntries(b, benchEntries)
		})
		b.Run(c.name+"/gofeed", func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				var p atom.Parser
				if _, err := p.Parse(bytes.NewReader(doc)); err != nil {
					b.Fatal(err)
				}
			}
			sizes(b)
			reportEntries(b, benchEntries)
		})
	}
}
