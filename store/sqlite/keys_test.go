package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/seal"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/sqlite"
	"github.com/eventfeed/eventfeed/store/storetest"
)

func TestKeyring(t *testing.T) {
	for _, c := range []struct {
		name string
		kek  []byte
	}{{"plain-keys", nil}, {"wrapped-keys", seal.NewKey()}} {
		t.Run(c.name, func(t *testing.T) {
			var (
				mu    sync.Mutex
				paths = make(map[store.Keyring]string)
			)
			storetest.TestKeyring(t, storetest.KeyringHarness{
				Open: func(t *testing.T, encrypt bool) store.Keyring {
					path := filepath.Join(t.TempDir(), "log.db")
					l := openLog(t, path, sqlite.Options{Encrypt: encrypt, KEK: c.kek})
					mu.Lock()
					paths[l] = path
					mu.Unlock()
					return l
				},
				Reopen: func(t *testing.T, l store.Keyring, encrypt bool) store.Keyring {
					mu.Lock()
					path := paths[l]
					mu.Unlock()
					return openLog(t, path, sqlite.Options{Encrypt: encrypt, KEK: c.kek})
				},
			})
		})
	}
}

// storedFiles returns the contents of the database file and of its -wal
// and -shm files, those that exist.
func storedFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// TestEraseLeavesNoTrace erases subjects from a file with many keys (so
// that the key table spans pages) and looks for the erased keys, and for
// any plaintext, in the database, WAL and shared-memory files, with a
// second Log holding the file open.
func TestEraseLeavesNoTrace(t *testing.T) {
	for _, c := range []struct {
		name string
		kek  []byte
	}{{"plain-keys", nil}, {"wrapped-keys", seal.NewKey()}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "log.db")
			l := openLog(t, path, sqlite.Options{Encrypt: true, KEK: c.kek})
			other := openLog(t, path, sqlite.Options{Encrypt: true, KEK: c.kek})
			const subjects = 400
			var batch []eventfeed.Event
			for i := range subjects {
				batch = append(batch, eventfeed.Event{Feed: "people", ID: fmt.Sprintf("p%d", i), Type: "person.registered",
					Subject: fmt.Sprintf("person-%d", i), Data: fmt.Appendf(nil, `{"name":"secret-name-%05d"}`, i)})
			}
			mustAppend(t, l, batch[:subjects/2]...)
			mustAppend(t, other, batch[subjects/2:]...)
			erase := []int{0, 1, 137, 200, 399}
			var keys [][]byte
			for _, i := range erase {
				k, err := l.Key(ctx, "people", batch[i].Subject)
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, k.Secret)
			}
			// The stored (wrapped) form of a key is not known to the test;
			// without a KEK it is the key itself.
			for _, n := range erase {
				if _, err := l.Erase(ctx, "people", batch[n].Subject); err != nil {
					t.Fatalf("Erase: %v", err)
				}
				if _, err := other.Key(ctx, "people", batch[n].Subject); !errors.Is(err, eventfeed.ErrErased) {
					t.Errorf("Key through the other Log: %v, want eventfeed.ErrErased", err)
				}
			}
			files := storedFiles(t, path)
			for name, b := range files {
				if bytes.Contains(b, []byte("secret-name-")) {
					t.Errorf("%s holds plaintext", name)
				}
				for i, k := range keys {
					if bytes.Contains(b, k) {
						t.Errorf("%s holds the erased key of %s", name, batch[erase[i]].Subject)
					}
				}
			}
			if len(files["log.db-wal"]) != 0 {
				t.Errorf("the WAL holds %d bytes after Erase, want it truncated", len(files["log.db-wal"]))
			}
			// A key not erased is still found in the files when it is
			// stored as it is: the search above can find what it seeks.
			if c.kek == nil {
				k, err := l.Key(ctx, "people", batch[5].Subject)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(files["log.db"], k.Secret) {
					t.Errorf("a live key is not found in the database file: the search for erased ones proves nothing")
				}
			}
		})
	}
}

func TestKEK(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	kek := seal.NewKey()
	l := openLog(t, path, sqlite.Options{Encrypt: true, KEK: kek})
	mustAppend(t, l, eventfeed.Event{Feed: "people", ID: "p1", Type: "t", Subject: "alice", Data: []byte(`{}`)})
	k, err := l.Key(ctx, "people", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if b := storedFiles(t, path); bytes.Contains(b["log.db"], k.Secret) || bytes.Contains(b["log.db-wal"], k.Secret) {
		t.Errorf("the data key is stored unwrapped")
	}
	for _, c := range []struct {
		name string
		kek  []byte
	}{{"other KEK", seal.NewKey()}, {"no KEK", nil}} {
		o := openLog(t, path, sqlite.Options{Encrypt: true, KEK: c.kek})
		if _, err := o.Key(ctx, "people", "alice"); !errors.Is(err, seal.ErrWrongKEK) {
			t.Errorf("%s: Key: %v, want seal.ErrWrongKEK", c.name, err)
		}
		if _, err := o.Append(ctx, eventfeed.Event{Feed: "people", ID: "p2" + c.name, Type: "t", Subject: "alice", Data: []byte(`{}`)}); !errors.Is(err, seal.ErrWrongKEK) {
			t.Errorf("%s: Append: %v, want seal.ErrWrongKEK", c.name, err)
		}
	}
	if _, err := sqlite.Open(ctx, path, sqlite.Options{KEK: kek[:16]}); err == nil {
		t.Errorf("Open with a 16-byte KEK succeeded")
	}
}

// TestAppendTxEncrypted appends sealed events in the caller's transaction:
// the key is made in it, and a rollback leaves neither event nor key.
func TestAppendTxEncrypted(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, "", sqlite.Options{Encrypt: true})
	alice := eventfeed.Event{Feed: "people", ID: "p1", Type: "t", Subject: "alice", Data: []byte(`{"name":"Alice"}`)}

	tx, err := l.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendTx(ctx, tx, alice); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if _, err := l.Key(ctx, "people", "alice"); !errors.Is(err, store.ErrKeyNotFound) {
		t.Errorf("Key after a rolled-back AppendTx: %v, want store.ErrKeyNotFound", err)
	}

	tx, err = l.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := l.AppendTx(ctx, tx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	l.Notify()
	k, err := l.Key(ctx, "people", "alice")
	if err != nil {
		t.Fatal(err)
	}
	aead, _ := seal.NewAEAD(k.Secret)
	read, err := l.Read(ctx, "people", 1, 1)
	if err != nil || len(read) != 1 {
		t.Fatalf("Read: %v %v", read, err)
	}
	if !bytes.Equal(read[0].Data, out[0].Data) || read[0].ContentType != eventfeed.EncryptedContentType {
		t.Errorf("Read %q %q, want the sealed Data AppendTx returned", read[0].ContentType, read[0].Data)
	}
	if plain, _, err := seal.Open(aead, read[0].Data, "p1", "alice"); err != nil || !bytes.Equal(plain, alice.Data) {
		t.Errorf("opened %q, %v; want %q", plain, err, alice.Data)
	}
	if f, err := l.Feed(ctx, "people"); err != nil || !f.Encrypted {
		t.Errorf("Feed: %+v, %v; want an encrypted feed", f, err)
	}

	// After an erasure, AppendTx refuses the subject and leaves tx usable.
	if _, err := l.Erase(ctx, "people", "alice"); err != nil {
		t.Fatal(err)
	}
	tx, err = l.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	again := alice
	again.ID = "p2"
	if _, err := l.AppendTx(ctx, tx, again); !errors.Is(err, eventfeed.ErrErased) {
		t.Errorf("AppendTx after Erase: %v, want eventfeed.ErrErased", err)
	}
	bob := eventfeed.Event{Feed: "people", ID: "p3", Type: "t", Subject: "bob", Data: []byte(`{}`)}
	if _, err := l.AppendTx(ctx, tx, bob); err != nil {
		t.Errorf("AppendTx in the same transaction after a refusal: %v", err)
	}
}

// TestEraseWALBusy erases while a reader holds a snapshot in the WAL: the
// key is destroyed, Erase says the WAL still holds its old page, and a
// second Erase, once the reader is done, truncates it.
func TestEraseWALBusy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	l := openLog(t, path, sqlite.Options{Encrypt: true, BusyTimeout: 50 * time.Millisecond})
	mustAppend(t, l, eventfeed.Event{Feed: "people", ID: "p1", Type: "t", Subject: "alice", Data: []byte(`{}`)})
	k, err := l.Key(ctx, "people", "alice")
	if err != nil {
		t.Fatal(err)
	}
	reader, err := l.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if _, err := reader.ExecContext(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := reader.QueryRowContext(ctx, `SELECT count(*) FROM eventfeed_keys`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	tomb, err := l.Erase(ctx, "people", "alice")
	if !errors.Is(err, sqlite.ErrWALBusy) || tomb.Seq != 2 {
		t.Fatalf("Erase with a reader in the WAL: %v, tombstone at %d; want sqlite.ErrWALBusy and the tombstone at 2", err, tomb.Seq)
	}
	if _, err := l.Key(ctx, "people", "alice"); !errors.Is(err, eventfeed.ErrErased) {
		t.Errorf("Key after the busy Erase: %v, want eventfeed.ErrErased", err)
	}
	if !bytes.Contains(storedFiles(t, path)["log.db-wal"], k.Secret) {
		t.Errorf("the WAL no longer holds the key although a reader kept it: the test proves nothing")
	}
	if _, err := reader.ExecContext(ctx, `COMMIT`); err != nil {
		t.Fatal(err)
	}
	again, err := l.Erase(ctx, "people", "alice")
	if err != nil || again.Seq != 2 {
		t.Fatalf("Erase again: %v, tombstone at %d; want the tombstone at 2", err, again.Seq)
	}
	for name, b := range storedFiles(t, path) {
		if bytes.Contains(b, k.Secret) {
			t.Errorf("%s holds the erased key after the second Erase", name)
		}
	}
}

// TestSealedRows: a sealed event's row keeps the plaintext's media type
// and only the nonce, ciphertext and tag of its JWE; Read, Append's
// answer for a repeat and AppendTx give the JWE, which opens with the
// subject's key. A row whose parts do not rebuild is ErrDecrypt, not a
// crash or data passed off as sealed.
func TestSealedRows(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, "", sqlite.Options{Encrypt: true})
	in := eventfeed.Event{Feed: "f", ID: "urn:uuid:1", Type: "t", Subject: "s <&> ü", ContentType: "text/plain; charset=utf-8", Data: []byte("plain text")}
	clear := eventfeed.Event{Feed: "f", ID: "urn:uuid:2", Type: "t", Data: []byte(`{"a":1}`)}
	out, err := l.Append(ctx, in, clear)
	if err != nil {
		t.Fatal(err)
	}
	key, err := l.Key(ctx, "f", in.Subject)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := seal.NewAEAD(key.Secret)
	if err != nil {
		t.Fatal(err)
	}
	again, err := l.Append(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := l.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	viaTx, err := l.AppendTx(ctx, tx, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	read, err := l.Read(ctx, "f", 1, 2)
	if err != nil || len(read) != 2 {
		t.Fatalf("Read = %v, %v", read, err)
	}
	for name, e := range map[string]eventfeed.Event{"Append": out[0], "repeat": again[0], "AppendTx": viaTx[0], "Read": read[0]} {
		if e.ContentType != eventfeed.EncryptedContentType || string(e.Data) != string(out[0].Data) || e.Seq != 1 {
			t.Errorf("%s gives %s %q at %d, want Append's JWE at 1", name, e.ContentType, e.Data, e.Seq)
		}
		plain, h, err := seal.Open(aead, e.Data, in.ID, in.Subject)
		if err != nil || string(plain) != "plain text" || h.Cty != in.ContentType {
			t.Errorf("%s: Open = %q %+v %v", name, plain, h, err)
		}
	}
	if read[1].ContentType != "" || string(read[1].Data) != `{"a":1}` {
		t.Errorf("event without subject reads as %q %s", read[1].ContentType, read[1].Data)
	}

	var (
		cty    string
		data   []byte
		sealed int
	)
	if err := l.DB().QueryRowContext(ctx, `SELECT content_type, data, sealed FROM eventfeed_events WHERE id = ?`, in.ID).Scan(&cty, &data, &sealed); err != nil {
		t.Fatal(err)
	}
	if cty != in.ContentType || sealed != seal.Format1 || len(data) != 12+len(in.Data)+16 || bytes.Contains(data, in.Data) {
		t.Errorf("row: content_type %q, sealed %d, data %d bytes %x", cty, sealed, len(data), data)
	}

	for _, corrupt := range []string{
		`UPDATE eventfeed_events SET sealed = 99 WHERE id = ?`,
		`UPDATE eventfeed_events SET sealed = 1, data = x'0102' WHERE id = ?`,
	} {
		if _, err := l.DB().ExecContext(ctx, corrupt, in.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := l.Read(ctx, "f", 1, 2); !errors.Is(err, eventfeed.ErrDecrypt) {
			t.Errorf("after %s: Read = %v, %v; want ErrDecrypt", corrupt, got, err)
		}
		if got, err := l.Append(ctx, in); !errors.Is(err, eventfeed.ErrDecrypt) {
			t.Errorf("after %s: Append of the repeat = %v, %v; want ErrDecrypt", corrupt, got, err)
		}
	}
}

// TestManySubjects appends batches with more subjects than one key
// statement takes, in two feeds, new and known ones mixed, through
// Append and through AppendTx on another pool's transaction: every
// event opens with the key that Key gives for its subject, and each
// subject has one key.
func TestManySubjects(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	l := openLog(t, path, sqlite.Options{Encrypt: true})
	other := openLog(t, path, sqlite.Options{Encrypt: true})
	n := 0
	batch := func(subjects ...int) []eventfeed.Event {
		var out []eventfeed.Event
		for _, s := range subjects {
			for _, feed := range []string{"a", "b"} {
				n++
				out = append(out, eventfeed.Event{Feed: feed, ID: fmt.Sprintf("e%d", n), Type: "t", Subject: fmt.Sprintf("s%d", s), Data: fmt.Appendf(nil, `{"n":%d}`, n)})
			}
		}
		return out
	}
	span := func(from, to int) []int {
		var s []int
		for i := from; i < to; i++ {
			s = append(s, i, i) // each subject twice in a batch
		}
		return s
	}
	var in, out []eventfeed.Event
	for _, b := range [][]eventfeed.Event{
		batch(span(0, 37)...),                           // 37 new subjects a feed: 32 + 4 + 1
		batch(span(20, 90)...),                          // 17 known, 53 new
		batch(span(0, 1)...),                            // one known
		batch(append(span(85, 120), span(0, 40)...)...), // mixed, 75 a feed
	} {
		got, err := l.Append(ctx, b...)
		if err != nil {
			t.Fatal(err)
		}
		in, out = append(in, b...), append(out, got...)
	}
	tx, err := other.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := batch(span(100, 170)...)
	got, err := l.AppendTx(ctx, tx, b...)
	if err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	in, out = append(in, b...), append(out, got...)
	for i, e := range out {
		k, err := l.Key(ctx, e.Feed, e.Subject)
		if err != nil {
			t.Fatalf("Key(%s, %s): %v", e.Feed, e.Subject, err)
		}
		aead, err := seal.NewAEAD(k.Secret)
		if err != nil {
			t.Fatal(err)
		}
		if plain, _, err := seal.Open(aead, e.Data, e.ID, e.Subject); err != nil || string(plain) != string(in[i].Data) {
			t.Fatalf("event %s of %s: Open = %q, %v; want %s", e.ID, e.Subject, plain, err, in[i].Data)
		}
	}
	var keys int
	if err := l.DB().QueryRowContext(ctx, `SELECT count(*) FROM eventfeed_keys`).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if keys != 2*170 {
		t.Errorf("%d keys stored, want %d", keys, 2*170)
	}
}
