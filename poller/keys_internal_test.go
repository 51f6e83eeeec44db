package poller

import (
	"context"
	"net/url"
	"testing"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/internal/seal"
	"github.com/eventfeed/eventfeed/store/memory"
)

func TestTombstoneDropsKey(t *testing.T) {
	p, err := New("http://127.0.0.1:1/feeds/people", memory.NewReplica(nil), Config{})
	if err != nil {
		t.Fatal(err)
	}
	aead, _ := seal.NewAEAD(seal.NewKey())
	p.keys.keys.Add("ada", subjectKey{aead: aead})
	ev := eventfeed.Event{Feed: "people", ID: "urn:uuid:1", Type: "person.named", Subject: "ada", Data: []byte(`{"name":"Ada"}`)}
	sealed := ev
	sealed.Data, sealed.ContentType = seal.Seal(aead, &ev), eventfeed.EncryptedContentType
	events := []eventfeed.Event{sealed, seal.Tombstone("people", "ada")}
	if err := p.open(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	if string(events[0].Data) != `{"name":"Ada"}` || events[0].ContentType != "application/json" {
		t.Errorf("opened %+v", events[0])
	}
	if p.keys.keys.Contains("ada") {
		t.Error("the tombstone left the key in memory")
	}
}

// Events opened already, committed again (a projection failure parks an
// event and commits those before it), are not opened twice, even when
// their own media type is application/jose; the same events read again
// from their page, sealed, are.
func TestOpenedOnce(t *testing.T) {
	p, err := New("http://127.0.0.1:1/feeds/people", memory.NewReplica(nil), Config{})
	if err != nil {
		t.Fatal(err)
	}
	aead, _ := seal.NewAEAD(seal.NewKey())
	p.keys.keys.Add("ada", subjectKey{aead: aead})
	ev := eventfeed.Event{Feed: "people", ID: "urn:uuid:1", Type: "signed", Subject: "ada", ContentType: eventfeed.EncryptedContentType, Data: []byte("eyJhbGciOiJIUzI1NiJ9.e30.c2ln")}
	sealed := ev
	sealed.Data = seal.Seal(aead, &ev)
	batch := []eventfeed.Event{sealed}
	if err := p.open(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if string(batch[0].Data) != string(ev.Data) {
		t.Fatalf("opened %q", batch[0].Data)
	}
	again := []eventfeed.Event{batch[0]}
	if err := p.open(context.Background(), again); err != nil || string(again[0].Data) != string(ev.Data) {
		t.Fatalf("opened again: %q, %v", again[0].Data, err)
	}
	reread := []eventfeed.Event{sealed}
	if err := p.open(context.Background(), reread); err != nil || string(reread[0].Data) != string(ev.Data) {
		t.Fatalf("read again: %q, %v", reread[0].Data, err)
	}
}

// TestKeyLinkResolution checks that a key link noted again for the same
// subject, from documents at other URLs, always resolves as RFC 3986 does,
// although a link seen before in a document of the same directory is not
// resolved again.
func TestKeyLinkResolution(t *testing.T) {
	p, err := New("http://127.0.0.1:1/feeds/people", memory.NewReplica(nil), Config{})
	if err != nil {
		t.Fatal(err)
	}
	bases := []string{
		"http://a.example/feeds/people",
		"http://a.example/feeds/people/e1/pages/3",
		"http://a.example/feeds/people/e1/pages/4",
		"http://a.example/feeds/people/e1/pages/4?x=1",
		"http://a.example/feeds/people/e1/entries/7",
		"http://a.example/feeds/",
		"http://a.example",
		"http://b.example/feeds/people/e1/pages/3",
		"https://a.example/feeds/people/e1/pages/3",
	}
	hrefs := []string{
		"../../../people/keys/ada", "people/keys/ada", "keys/ada", "/keys/ada", "//c.example/keys/ada",
		"http://k.example/keys/ada", "?subject=ada", "#ada", "./keys/ada%2Fx", "",
	}
	for _, href := range hrefs {
		for i := range 2 * len(bases) { // each base twice, in an order that revisits directories
			base, _ := url.Parse(bases[i*5%len(bases)])
			e := &feed.Entry{ID: "urn:uuid:1", Subject: "ada", Content: feed.Content{Type: eventfeed.EncryptedContentType}}
			if href != "" {
				e.Links = []feed.Link{{Rel: feed.RelKey, Href: href}}
			}
			p.noteKeyLink(e, base, docDir(base))
			want := ""
			if href != "" {
				ref, _ := url.Parse(href)
				want = base.ResolveReference(ref).String()
			}
			if l, _ := p.keys.links.Peek("ada"); l.url != want {
				t.Errorf("%q in %s resolved to %q, want %q", href, base, l.url, want)
			}
		}
	}
}
