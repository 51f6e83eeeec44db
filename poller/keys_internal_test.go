package poller

import (
	"context"
	"testing"

	"github.com/eventfeed/eventfeed"
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
