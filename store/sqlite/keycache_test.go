package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/seal"
	"github.com/eventfeed/eventfeed/store"
)

// TestKeptKeys: the keys a Log keeps between Appends never outlive an
// erasure, by this Log or another on the file, and never come from an
// append that rolled back.
func TestKeptKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	open := func() *Log {
		l, err := Open(ctx, path, Options{Encrypt: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	a, b := open(), open()
	n := 0
	event := func(subject string) eventfeed.Event {
		n++
		return eventfeed.Event{Feed: "f", ID: "e" + string(rune('a'+n)), Type: "t", Subject: subject, Data: []byte(`{}`)}
	}
	kept := func(subject string) bool {
		a.keys.mu.Lock()
		defer a.keys.mu.Unlock()
		return a.keys.keys[seal.KeyAAD("f", subject)] != nil
	}
	opens := func(l *Log, e eventfeed.Event) {
		t.Helper()
		k, err := l.Key(ctx, e.Feed, e.Subject)
		if err != nil {
			t.Fatalf("Key(%s): %v", e.Subject, err)
		}
		aead, _ := seal.NewAEAD(k.Secret)
		if _, _, err := seal.Open(aead, e.Data, e.ID, e.Subject); err != nil {
			t.Fatalf("event of %s does not open with its key: %v", e.Subject, err)
		}
	}

	if _, err := a.Append(ctx, event("s"), event("t")); err != nil {
		t.Fatal(err)
	}
	if !kept("s") || !kept("t") {
		t.Fatal("the keys of a committed Append are not kept: the test proves nothing")
	}
	// Another Log erases s: a's next Append sees it at once, by the
	// count, whatever its watcher did.
	if _, err := b.Erase(ctx, "f", "s"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, event("s")); !errors.Is(err, eventfeed.ErrErased) {
		t.Fatalf("Append for a subject another Log erased = %v, want ErrErased", err)
	}
	out, err := a.Append(ctx, event("t"))
	if err != nil {
		t.Fatal(err)
	}
	opens(b, out[0])
	// The watcher drops the keys kept before an Erase by another Log.
	if _, err := b.Append(ctx, event("u")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Erase(ctx, "f", "u"); err != nil {
		t.Fatal(err)
	}
	a.Notify()
	if kept("t") {
		t.Error("keys kept after another Log's Erase, once the watcher saw it")
	}

	// A rolled-back Append keeps no key: its key was never stored.
	conflict := event("w")
	conflict.ID = out[0].ID
	conflict.Data = []byte(`{"other":1}`)
	if _, err := a.Append(ctx, event("v"), conflict); !errors.Is(err, eventfeed.ErrConflict) {
		t.Fatalf("Append with a conflict = %v", err)
	}
	if kept("v") {
		t.Error("the key of a rolled-back Append is kept")
	}
	if _, err := a.Key(ctx, "f", "v"); !errors.Is(err, store.ErrKeyNotFound) {
		t.Fatalf("Key of a rolled-back subject = %v", err)
	}
	out, err = a.Append(ctx, event("v"))
	if err != nil {
		t.Fatal(err)
	}
	opens(b, out[0])

	// This Log's own Erase.
	if _, err := a.Append(ctx, event("x")); err != nil || !kept("x") {
		t.Fatalf("Append = %v, key kept %v", err, kept("x"))
	}
	if _, err := a.Erase(ctx, "f", "x"); err != nil {
		t.Fatal(err)
	}
	if kept("x") {
		t.Error("a key is kept after this Log erased it")
	}
	if _, err := a.Append(ctx, event("x")); !errors.Is(err, eventfeed.ErrErased) {
		t.Fatalf("Append after Erase = %v, want ErrErased", err)
	}
}
