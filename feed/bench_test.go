package feed_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed/feed"
	"github.com/mmcdole/gofeed/atom"
)

const benchEntries = 500

func reportEntries(b *testing.B, n int) {
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

func BenchmarkEncodePage(b *testing.B) {
	f := testPage(3, benchEntries, true)
	var buf bytes.Buffer
	if err := feed.Encode(&buf, f); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := feed.Encode(&buf, f); err != nil {
			b.Fatal(err)
		}
	}
	reportEntries(b, benchEntries)
}

func BenchmarkDecodePage(b *testing.B) {
	doc := encode(b, testPage(3, benchEntries, true))
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		_, err := feed.Decode(bytes.NewReader(doc), feed.DecodeOptions{}, func(*feed.Entry) error { n++; return nil })
		if err != nil {
			b.Fatal(err)
		}
		if n != benchEntries {
			b.Fatalf("got %d entries, want %d", n, benchEntries)
		}
	}
	reportEntries(b, benchEntries)
}

// BenchmarkGofeedAtomParser reads the same page as BenchmarkDecodePage
// with gofeed's Atom parser, for comparison.
func BenchmarkGofeedAtomParser(b *testing.B) {
	doc := encode(b, testPage(3, benchEntries, true))
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		var p atom.Parser
		f, err := p.Parse(bytes.NewReader(doc))
		if err != nil {
			b.Fatal(err)
		}
		if len(f.Entries) != benchEntries {
			b.Fatalf("got %d entries, want %d", len(f.Entries), benchEntries)
		}
	}
	reportEntries(b, benchEntries)
}

// hostileDoc is a 300 KB feed whose one foreign element holds 20,000 text
// fragments: the document that makes gofeed v1.4.2 allocate gigabytes,
// since it builds the element's text by repeated concatenation.
func hostileDoc(tb testing.TB) []byte {
	var b bytes.Buffer
	b.WriteString(strings.TrimSuffix(string(encode(tb, testPage(1, 2, true))), "</feed>\n"))
	b.WriteString(`<x:junk xmlns:x="urn:example:junk">`)
	for range 20000 {
		b.WriteString("fragment<x:i/>")
	}
	b.WriteString("</x:junk></feed>\n")
	return b.Bytes()
}

func BenchmarkDecodeHostile(b *testing.B) {
	doc := hostileDoc(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := feed.Decode(bytes.NewReader(doc), feed.DecodeOptions{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if len(f.Entries) != 2 {
			b.Fatalf("got %d entries, want 2", len(f.Entries))
		}
	}
}

// BenchmarkGofeedHostile reads the same document with gofeed, for
// comparison.
func BenchmarkGofeedHostile(b *testing.B) {
	doc := hostileDoc(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		var p atom.Parser
		if _, err := p.Parse(bytes.NewReader(doc)); err != nil {
			b.Fatal(err)
		}
	}
}
