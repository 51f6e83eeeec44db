package feed_test

import (
	"bytes"
	"io"
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

var _ = io.EOF
