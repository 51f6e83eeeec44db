package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/seal"
	"github.com/eventfeed/eventfeed/store"
)

// KeyringHarness opens the logs of the store.Keyring suite.
type KeyringHarness struct {
	// Open returns a fresh, empty log that encrypts the feeds it creates
	// when encrypt is true, and releases it with t.Cleanup.
	Open func(t *testing.T, encrypt bool) store.Keyring
	// Reopen returns another Log on the storage of l, encrypting or not,
	// released with t.Cleanup. Nil for a store whose logs share no
	// storage (memory): the cases that need two Logs are skipped.
	Reopen func(t *testing.T, l store.Keyring, encrypt bool) store.Keyring
}

// TestKeyring runs the conformance suite for store.Keyring: sealing,
// idempotent appends of sealed events, the encryption fixed with a feed,
// and erasure.
func TestKeyring(t *testing.T, h KeyringHarness) {
	t.Helper()
	for _, c := range []struct {
		name string
		test func(*testing.T, KeyringHarness)
	}{
		{"Sealed", testSealed},
		{"NoSubjectInClear", testNoSubjectInClear},
		{"Unencrypted", testUnencrypted},
		{"SealedReplay", testSealedReplay},
		{"SealedConflict", testSealedConflict},
		{"EncryptionFixed", testEncryptionFixed},
		{"Erase", testErase},
		{"EraseTwice", testEraseTwice},
		{"EraseBadInput", testEraseBadInput},
		{"EraseBatch", testEraseBatch},
		{"ReservedType", testReservedType},
		{"ConcurrentEraseAppend", testConcurrentEraseAppend},
		{"EraseAcrossLogs", testEraseAcrossLogs},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, h) })
	}
}

// secretEvent returns an event of feed about subject whose Data holds a
// marker that must never be found in storage in the clear.
func secretEvent(feed, id, subject string) eventfeed.Event {
	return eventfeed.Event{
		Feed:    feed,
		ID:      id,
		Type:    "person.registered",
		Subject: subject,
		Data:    []byte(`{"name":"plaintext-` + id + `"}`),
	}
}

func mustKey(t *testing.T, l store.Keyring, feed, subject string) []byte {
	t.Helper()
	k, err := l.Key(context.Background(), feed, subject)
	if err != nil {
		t.Fatalf("Key(%q, %q): %v", feed, subject, err)
	}
	if k.Feed != feed || k.Subject != subject || len(k.Secret) != seal.KeySize {
		t.Fatalf("Key(%q, %q) = {%q %q %d bytes}, want the feed, the subject and %d bytes", feed, subject, k.Feed, k.Subject, len(k.Secret), seal.KeySize)
	}
	return k.Secret
}

// checkSealed checks that got is want sealed under key.
func checkSealed(t *testing.T, what string, key []byte, got, want eventfeed.Event) {
	t.Helper()
	if got.ContentType != eventfeed.EncryptedContentType {
		t.Errorf("%s: ContentType %q, want %q", what, got.ContentType, eventfeed.EncryptedContentType)
		return
	}
	if bytes.Contains(got.Data, want.Data) {
		t.Errorf("%s: stored Data holds the plaintext %s", what, want.Data)
	}
	aead, err := seal.NewAEAD(key)
	if err != nil {
		t.Fatal(err)
	}
	plain, h, err := seal.Open(aead, got.Data, got.ID, got.Subject)
	if err != nil {
		t.Errorf("%s: sealed Data does not open with the subject's key: %v", what, err)
		return
	}
	opened := got
	opened.Data, opened.ContentType = plain, h.Cty
	if d := diff(opened, want); d != "" {
		t.Errorf("%s: opened: %s", what, d)
	}
}

func testSealed(t *testing.T, h KeyringHarness) {
	l := h.Open(t, true)
	a, b := secretEvent("people", "p1", "alice"), secretEvent("people", "p2", "bob")
	b.ContentType = "text/plain"
	got := mustAppend(t, l, a, b)
	if f := mustFeed(t, l, "people"); !f.Encrypted {
		t.Errorf("Feed.Encrypted = false for a feed created by a Log that encrypts")
	}
	ka, kb := mustKey(t, l, "people", "alice"), mustKey(t, l, "people", "bob")
	if bytes.Equal(ka, kb) {
		t.Errorf("alice and bob have the same key")
	}
	checkSealed(t, "Append", ka, got[0], withSeq(a, 1))
	checkSealed(t, "Append", kb, got[1], withSeq(b, 2))
	read := mustRead(t, l, "people", 1, 10)
	if len(read) != 2 {
		t.Fatalf("Read returned %v, want 2 events", ids(read))
	}
	checkSealed(t, "Read", ka, read[0], withSeq(a, 1))
	checkSealed(t, "Read", kb, read[1], withSeq(b, 2))
	if !bytes.Equal(read[0].Data, got[0].Data) {
		t.Errorf("Read returned other sealed Data than Append")
	}
	// A second event of alice is sealed under her key.
	c := secretEvent("people", "p3", "alice")
	checkSealed(t, "second event", ka, mustAppend(t, l, c)[0], withSeq(c, 3))
	if k := mustKey(t, l, "people", "alice"); !bytes.Equal(k, ka) {
		t.Errorf("alice's key changed with her second event")
	}
	if _, err := l.Key(context.Background(), "people", "carol"); !errors.Is(err, store.ErrKeyNotFound) {
		t.Errorf("Key of a subject without events: %v, want store.ErrKeyNotFound", err)
	}
	if _, err := l.Key(context.Background(), "nobody", "alice"); !errors.Is(err, store.ErrKeyNotFound) {
		t.Errorf("Key in an unknown feed: %v, want store.ErrKeyNotFound", err)
	}
}

func testNoSubjectInClear(t *testing.T, h KeyringHarness) {
	l := h.Open(t, true)
	e := secretEvent("people", "p1", "")
	got := mustAppend(t, l, e)
	checkEvents(t, "Append", got, []eventfeed.Event{withSeq(e, 1)})
	checkEvents(t, "Read", mustRead(t, l, "people", 1, 1), []eventfeed.Event{withSeq(e, 1)})
	if _, err := l.Key(context.Background(), "people", ""); !errors.Is(err, store.ErrKeyNotFound) {
		t.Errorf("Key of the empty subject: %v, want store.ErrKeyNotFound", err)
	}
}

func testUnencrypted(t *testing.T, h KeyringHarness) {
	l := h.Open(t, false)
	e := secretEvent("people", "p1", "alice")
	checkEvents(t, "Append", mustAppend(t, l, e), []eventfeed.Event{withSeq(e, 1)})
	if f := mustFeed(t, l, "people"); f.Encrypted {
		t.Errorf("Feed.Encrypted = true for a feed created by a Log that does not encrypt")
	}
	if _, err := l.Key(context.Background(), "people", "alice"); !errors.Is(err, store.ErrKeyNotFound) {
		t.Errorf("Key in an unencrypted feed: %v, want store.ErrKeyNotFound", err)
	}
	if _, err := l.Erase(context.Background(), "people", "alice"); !errors.Is(err, eventfeed.ErrEncryption) {
		t.Errorf("Erase in an unencrypted feed: %v, want eventfeed.ErrEncryption", err)
	}
	if f := mustFeed(t, l, "people"); f.Head != 1 {
		t.Errorf("head = %d after a failed Erase, want 1", f.Head)
	}
}

func testSealedReplay(t *testing.T, h KeyringHarness) {
	l := h.Open(t, true)
	a, b := secretEvent("people", "p1", "alice"), secretEvent("people", "p2", "alice")
	first := mustAppend(t, l, a, b)
	// The same events again, in another order and with a new one: the
	// plaintext is compared, although sealing it again would give other
	// ciphertext.
	c := secretEvent("people", "p3", "bob")
	again := mustAppend(t, l, b, c, a)
	for _, p := range []struct{ got, want eventfeed.Event }{{again[0], first[1]}, {again[2], first[0]}} {
		if p.got.Seq != p.want.Seq || !bytes.Equal(p.got.Data, p.want.Data) {
			t.Errorf("replayed %s: Seq %d, want %d, and the stored sealed Data", p.want.ID, p.got.Seq, p.want.Seq)
		}
	}
	if again[1].Seq != 3 {
		t.Errorf("new event after a replay: Seq %d, want 3", again[1].Seq)
	}
	if f := mustFeed(t, l, "people"); f.Head != 3 {
		t.Errorf("head = %d, want 3", f.Head)
	}
}

func testSealedConflict(t *testing.T, h KeyringHarness) {
	l := h.Open(t, true)
	a := secretEvent("people", "p1", "alice")
	mustAppend(t, l, a)
	other := a
	other.Data = []byte(`{"name":"someone else"}`)
	otherType := a
	otherType.ContentType = "text/plain"
	for _, c := range []struct {
		name string
		ev   eventfeed.Event
	}{{"data", other}, {"media type", otherType}} {
		if _, err := l.Append(context.Background(), secretEvent("people", "x-"+c.name, "bob"), c.ev); !errors.Is(err, eventfeed.ErrConflict) {
			t.Errorf("same ID, other %s: %v, want eventfeed.ErrConflict", c.name, err)
		}
	}
	if f := mustFeed(t, l, "people"); f.Head != 1 {
		t.Errorf("head = %d after conflicts, want 1", f.Head)
	}
	if _, err := l.Key(context.Background(), "people", "bob"); !errors.Is(err, store.ErrKeyNotFound) {
		t.Errorf("Key of bob, whose only event was in a failed call: %v, want store.ErrKeyNotFound", err)
	}
}

func testEncryptionFixed(t *testing.T, h KeyringHarness) {
	if h.Reopen == nil {
		t.Skip("the store's Logs share no storage")
	}
	enc := h.Open(t, true)
	plain := h.Reopen(t, enc, false)
	mustAppend(t, enc, secretEvent("sealed", "s1", "alice"))
	mustAppend(t, plain, secretEvent("clear", "c1", "alice"))
	if _, err := plain.Append(context.Background(), secretEvent("sealed", "s2", "bob")); !errors.Is(err, eventfeed.ErrEncryption) {
		t.Errorf("unencrypted Log appending to an encrypted feed: %v, want eventfeed.ErrEncryption", err)
	}
	if _, err := plain.Append(context.Background(), secretEvent("sealed", "s3", "")); !errors.Is(err, eventfeed.ErrEncryption) {
		t.Errorf("unencrypted Log appending an event without subject to an encrypted feed: %v, want eventfeed.ErrEncryption", err)
	}
	if _, err := enc.Append(context.Background(), secretEvent("sealed", "s4", "carol"), secretEvent("clear", "c2", "bob")); !errors.Is(err, eventfeed.ErrEncryption) {
		t.Errorf("encrypting Log appending to an unencrypted feed: %v, want eventfeed.ErrEncryption", err)
	}
	for _, c := range []struct {
		l     store.Keyring
		feed  string
		head  uint64
		crypt bool
	}{{enc, "sealed", 1, true}, {plain, "sealed", 1, true}, {enc, "clear", 1, false}, {plain, "clear", 1, false}} {
		f, err := waitFeed(c.l, c.feed, c.head)
		if err != nil {
			t.Fatalf("Feed(%q): %v", c.feed, err)
		}
		if f.Head != c.head || f.Encrypted != c.crypt {
			t.Errorf("Feed(%q) = head %d encrypted %v, want %d %v", c.feed, f.Head, f.Encrypted, c.head, c.crypt)
		}
	}
	// Either Log erases from the encrypted feed: the feed decides.
	if _, err := plain.Erase(context.Background(), "sealed", "alice"); err != nil {
		t.Errorf("Erase through a Log that does not encrypt: %v", err)
	}
}

// waitFeed returns the feed once l knows it at head or beyond: a Log learns
// of another's appends a moment later.
func waitFeed(l store.Log, name string, head uint64) (store.Feed, error) {
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	return l.Wait(ctx, name, head-1)
}

func testErase(t *testing.T, h KeyringHarness) {
	l := h.Open(t, true)
	a1, b1, a2 := secretEvent("people", "p1", "alice"), secretEvent("people", "p2", "bob"), secretEvent("people", "p3", "alice")
	mustAppend(t, l, a1, b1, a2)
	kb := mustKey(t, l, "people", "bob")
	before := mustRead(t, l, "people", 1, 3)

	tomb, err := l.Erase(context.Background(), "people", "alice")
	if err != nil {
		t.Fatalf("Erase: %v", err)
	}
	want := seal.Tombstone("people", "alice")
	want.Seq = 4
	if d := diff(tomb, want); d != "" || len(tomb.Data) != 0 {
		t.Errorf("tombstone: %s (Data %q)", d, tomb.Data)
	}
	if tomb.Time.IsZero() {
		t.Errorf("tombstone has no Time")
	}
	if f := mustFeed(t, l, "people"); f.Head != 4 || !f.Updated.Equal(tomb.Time) {
		t.Errorf("after Erase: head %d updated %v, want 4 %v", f.Head, f.Updated, tomb.Time)
	}
	read := mustRead(t, l, "people", 1, 10)
	if len(read) != 4 {
		t.Fatalf("Read after Erase: %v, want 4 events", ids(read))
	}
	for i := range before {
		if d := diff(read[i], before[i]); d != "" {
			t.Errorf("event %d changed by Erase: %s", i+1, d)
		}
	}
	if d := diff(read[3], tomb); d != "" {
		t.Errorf("Read tombstone: %s", d)
	}
	if _, err := l.Key(context.Background(), "people", "alice"); !errors.Is(err, eventfeed.ErrErased) {
		t.Errorf("Key of an erased subject: %v, want eventfeed.ErrErased", err)
	}
	if k := mustKey(t, l, "people", "bob"); !bytes.Equal(k, kb) {
		t.Errorf("bob's key changed when alice was erased")
	}
	for _, e := range []eventfeed.Event{secretEvent("people", "p4", "alice"), a1} {
		if _, err := l.Append(context.Background(), secretEvent("people", "b-"+e.ID, "bob"), e); !errors.Is(err, eventfeed.ErrErased) {
			t.Errorf("Append %s for the erased subject: %v, want eventfeed.ErrErased", e.ID, err)
		}
	}
	if f := mustFeed(t, l, "people"); f.Head != 4 {
		t.Errorf("head = %d after refused appends, want 4", f.Head)
	}
	// Other subjects go on.
	b2 := secretEvent("people", "p5", "bob")
	checkSealed(t, "bob after alice's erasure", kb, mustAppend(t, l, b2)[0], withSeq(b2, 5))
}

func testEraseTwice(t *testing.T, h KeyringHarness) {
	l := h.Open(t, true)
	mustAppend(t, l, secretEvent("people", "p1", "alice"))
	first, err := l.Erase(context.Background(), "people", "alice")
	if err != nil {
		t.Fatalf("Erase: %v", err)
	}
	mustAppend(t, l, secretEvent("people", "p2", "bob"))
	second, err := l.Erase(context.Background(), "people", "alice")
	if err != nil {
		t.Fatalf("second Erase: %v", err)
	}
	if d := diff(second, first); d != "" || second.Seq != first.Seq {
		t.Errorf("second Erase returned another tombstone: %s (Seq %d, want %d)", d, second.Seq, first.Seq)
	}
	if f := mustFeed(t, l, "people"); f.Head != 3 {
		t.Errorf("head = %d after erasing twice, want 3 (one tombstone)", f.Head)
	}
}

func testEraseBadInput(t *testing.T, h KeyringHarness) {
	l := h.Open(t, true)
	mustAppend(t, l, secretEvent("people", "p1", "alice"), secretEvent("people", "p2", ""))
	for _, c := range []struct {
		feed, subject string
		want          error
	}{
		{"people", "carol", store.ErrKeyNotFound},
		{"people", "", store.ErrKeyNotFound},
		{"nobody", "alice", eventfeed.ErrFeedNotFound},
	} {
		if _, err := l.Erase(context.Background(), c.feed, c.subject); !errors.Is(err, c.want) {
			t.Errorf("Erase(%q, %q): %v, want %v", c.feed, c.subject, err, c.want)
		}
	}
	if f := mustFeed(t, l, "people"); f.Head != 2 {
		t.Errorf("head = %d after refused erasures, want 2", f.Head)
	}
	mustKey(t, l, "people", "alice")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Erase(ctx, "people", "alice"); !errors.Is(err, context.Canceled) {
		t.Errorf("Erase with a canceled ctx: %v, want context.Canceled", err)
	}
	mustKey(t, l, "people", "alice")
}

// testEraseBatch appends a batch in which one event's subject is erased:
// the whole batch is refused.
func testEraseBatch(t *testing.T, h KeyringHarness) {
	l := h.Open(t, true)
	mustAppend(t, l, secretEvent("people", "p1", "alice"))
	if _, err := l.Erase(context.Background(), "people", "alice"); err != nil {
		t.Fatal(err)
	}
	_, err := l.Append(context.Background(), secretEvent("people", "p2", "bob"), secretEvent("people", "p3", "alice"))
	if !errors.Is(err, eventfeed.ErrErased) {
		t.Errorf("batch with an erased subject: %v, want eventfeed.ErrErased", err)
	}
	if f := mustFeed(t, l, "people"); f.Head != 2 {
		t.Errorf("head = %d, want 2: nothing of the refused batch stored", f.Head)
	}
	if _, err := l.Key(context.Background(), "people", "bob"); !errors.Is(err, store.ErrKeyNotFound) {
		t.Errorf("Key of bob after the refused batch: %v, want store.ErrKeyNotFound", err)
	}
}

func testReservedType(t *testing.T, h KeyringHarness) {
	for _, encrypt := range []bool{true, false} {
		l := h.Open(t, encrypt)
		e := seal.Tombstone("people", "alice")
		if _, err := l.Append(context.Background(), e); !errors.Is(err, eventfeed.ErrInvalidEvent) {
			t.Errorf("encrypt %v: Append of a %s event: %v, want eventfeed.ErrInvalidEvent", encrypt, e.Type, err)
		}
		if _, err := l.Read(context.Background(), "people", 1, 1); !errors.Is(err, eventfeed.ErrFeedNotFound) {
			t.Errorf("encrypt %v: Read after the refused append: %v, want eventfeed.ErrFeedNotFound", encrypt, err)
		}
	}
}

// testConcurrentEraseAppend erases a subject while others append events
// for it: every append either is stored before the tombstone, sealed under
// the key that the erasure destroyed, or fails with eventfeed.ErrErased.
// None is stored after the tombstone.
func testConcurrentEraseAppend(t *testing.T, h KeyringHarness) {
	l := h.Open(t, true)
	mustAppend(t, l, secretEvent("people", "p0", "alice"))
	const writers, each = 4, 10
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stored  []eventfeed.Event
		refused int
		errs    []error
	)
	start := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range each {
				e := secretEvent("people", fmt.Sprintf("w%d-%d", w, i), "alice")
				out, err := l.Append(context.Background(), e, secretEvent("people", "b-"+e.ID, "bob"))
				mu.Lock()
				switch {
				case err == nil:
					stored = append(stored, out[0])
				case errors.Is(err, eventfeed.ErrErased):
					refused++
				default:
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		}()
	}
	close(start)
	tomb, err := l.Erase(context.Background(), "people", "alice")
	wg.Wait()
	if err != nil {
		t.Fatalf("Erase: %v", err)
	}
	for _, err := range errs {
		t.Errorf("Append: %v, want success or eventfeed.ErrErased", err)
	}
	if len(stored)+refused != writers*each {
		t.Errorf("%d appends stored and %d refused, want %d in all", len(stored), refused, writers*each)
	}
	for _, e := range stored {
		if e.Seq >= tomb.Seq {
			t.Errorf("event %s of the erased subject stored at %d, after the tombstone at %d", e.ID, e.Seq, tomb.Seq)
		}
	}
	head := tomb.Seq
	read := mustRead(t, l, "people", 1, 1<<20)
	for _, e := range read {
		head = max(head, e.Seq)
		if e.Subject == "alice" && e.Seq > tomb.Seq {
			t.Errorf("Read: event %s of the erased subject at %d, after the tombstone at %d", e.ID, e.Seq, tomb.Seq)
		}
	}
	if want := uint64(1 + 2*len(stored) + 1); head != want {
		t.Errorf("head %d, want %d (the first event, %d stored pairs, the tombstone)", head, want, len(stored))
	}
}

// testEraseAcrossLogs erases through one Log and appends through another
// on the same storage: the second must not seal with the destroyed key.
func testEraseAcrossLogs(t *testing.T, h KeyringHarness) {
	if h.Reopen == nil {
		t.Skip("the store's Logs share no storage")
	}
	a := h.Open(t, true)
	b := h.Reopen(t, a, true)
	mustAppend(t, b, secretEvent("people", "p1", "alice"))
	mustAppend(t, b, secretEvent("people", "p2", "alice")) // b has used alice's key twice
	tomb, err := a.Erase(context.Background(), "people", "alice")
	if err != nil {
		t.Fatalf("Erase: %v", err)
	}
	if _, err := b.Append(context.Background(), secretEvent("people", "p3", "alice")); !errors.Is(err, eventfeed.ErrErased) {
		t.Errorf("Append through another Log after Erase: %v, want eventfeed.ErrErased", err)
	}
	if _, err := b.Key(context.Background(), "people", "alice"); !errors.Is(err, eventfeed.ErrErased) {
		t.Errorf("Key through another Log after Erase: %v, want eventfeed.ErrErased", err)
	}
	again, err := b.Erase(context.Background(), "people", "alice")
	if err != nil || again.ID != tomb.ID || again.Seq != tomb.Seq {
		t.Errorf("Erase again through another Log: %v %s@%d, want the tombstone %s@%d", err, again.ID, again.Seq, tomb.ID, tomb.Seq)
	}
}
