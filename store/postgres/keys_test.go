package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/seal"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/storetest"
	"github.com/jackc/pgx/v5"
)

// openKeyring opens a Log on schema that encrypts or not, closed when t
// ends.
func openKeyring(t testing.TB, schema string, encrypt bool, kek []byte) *Log {
	t.Helper()
	l, err := Open(context.Background(), testDSN(t), Options{Schema: schema, Encrypt: encrypt, KEK: kek, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestKeyringConformance(t *testing.T) {
	testDSN(t)
	for _, c := range []struct {
		name string
		kek  []byte
	}{{"plain-keys", nil}, {"wrapped-keys", seal.NewKey()}} {
		t.Run(c.name, func(t *testing.T) {
			var (
				mu      sync.Mutex
				schemas = make(map[store.Keyring]string)
			)
			storetest.TestKeyring(t, storetest.KeyringHarness{
				Open: func(t *testing.T, encrypt bool) store.Keyring {
					schema := newSchema(t)
					l := openKeyring(t, schema, encrypt, c.kek)
					mu.Lock()
					schemas[l] = schema
					mu.Unlock()
					return l
				},
				Reopen: func(t *testing.T, l store.Keyring, encrypt bool) store.Keyring {
					mu.Lock()
					schema := schemas[l]
					mu.Unlock()
					return openKeyring(t, schema, encrypt, c.kek)
				},
			})
		})
	}
}

// TestEraseTables erases a subject and looks for its key and for any
// plaintext in every row of the Log's tables, as text: none holds them.
func TestEraseTables(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	l := openKeyring(t, schema, true, nil)
	var batch []eventfeed.Event
	for i := range 50 {
		batch = append(batch, eventfeed.Event{Feed: "people", ID: fmt.Sprintf("p%d", i), Type: "person.registered",
			Subject: fmt.Sprintf("person-%d", i%10), Data: fmt.Appendf(nil, `{"name":"secret-name-%03d"}`, i)})
	}
	if _, err := l.Append(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	k, err := l.Key(ctx, "people", "person-3")
	if err != nil {
		t.Fatal(err)
	}
	live, err := l.Key(ctx, "people", "person-4")
	if err != nil {
		t.Fatal(err)
	}
	pool := adminPool(t)
	// tablesHolding returns the tables of the schema with a row whose text
	// form holds the hex of b, or b itself.
	tablesHolding := func(b []byte) []string {
		t.Helper()
		var out []string
		for _, table := range []string{"events", "outbox", "feeds", "keys", "encryption", "rejected"} {
			var n int
			q := fmt.Sprintf(`SELECT count(*) FROM %s.%s r WHERE position($1 in r::text) > 0 OR position($2 in r::text) > 0`,
				pgx.Identifier{schema}.Sanitize(), table)
			text := string(b) // as text columns hold it
			if !utf8.Valid(b) {
				text = fmt.Sprintf("%x", b)
			}
			if err := pool.QueryRow(ctx, q, fmt.Sprintf("%x", b), text).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				out = append(out, table)
			}
		}
		return out
	}
	if got := tablesHolding(live.Secret); len(got) != 1 || got[0] != "keys" {
		t.Fatalf("a live key is found in %v, want [keys]: the search proves nothing", got)
	}
	if got := tablesHolding([]byte("secret-name-")); len(got) > 0 {
		t.Errorf("plaintext found in %v", got)
	}
	tomb, err := l.Erase(ctx, "people", "person-3")
	if err != nil {
		t.Fatal(err)
	}
	if tomb.Seq != 51 || tomb.Type != eventfeed.TypeErased {
		t.Errorf("tombstone %+v, want Seq 51 and type %s", tomb, eventfeed.TypeErased)
	}
	if got := tablesHolding(k.Secret); len(got) > 0 {
		t.Errorf("the erased key is found in %v", got)
	}
	if got := tablesHolding(live.Secret); len(got) != 1 {
		t.Errorf("the other subject's key is found in %v, want [keys]", got)
	}
}

// TestEraseAppendTx erases a subject while a transaction that appended
// for it through AppendTx is open: Erase waits for it, and the appended
// event comes before the tombstone.
func TestEraseAppendTx(t *testing.T) {
	ctx := context.Background()
	l := openKeyring(t, newSchema(t), true, nil)
	if _, err := l.Append(ctx, eventfeed.Event{Feed: "people", ID: "p1", Type: "t", Subject: "alice", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	pool := adminPool(t)
	tx := begin(t, pool)
	appendTx(t, l, tx, eventfeed.Event{Feed: "people", ID: "p2", Type: "t", Subject: "alice", Data: []byte(`{"a":2}`)})
	type result struct {
		ev  eventfeed.Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		ev, err := l.Erase(ctx, "people", "alice")
		done <- result{ev, err}
	}()
	// Erase waits for the transaction's lock on alice: let a business row
	// of the transaction be written meanwhile, then commit.
	if _, err := tx.Exec(ctx, `SELECT pg_sleep(0.05)`); err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	r := <-done
	if r.err != nil {
		t.Fatalf("Erase: %v", r.err)
	}
	read, err := l.Read(ctx, "people", 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(read) != 3 || read[1].ID != "p2" || read[2].ID != r.ev.ID {
		t.Errorf("Read %v, want p1, p2, then the tombstone", readIDs(t, l, "people"))
	}
	// After the erasure, AppendTx refuses alice and leaves tx usable.
	tx = begin(t, pool)
	defer tx.Rollback(ctx)
	if err := l.AppendTx(ctx, tx, eventfeed.Event{Feed: "people", ID: "p3", Type: "t", Subject: "alice", Data: []byte(`{}`)}); !errors.Is(err, eventfeed.ErrErased) {
		t.Errorf("AppendTx after Erase: %v, want eventfeed.ErrErased", err)
	}
	if err := l.AppendTx(ctx, tx, eventfeed.Event{Feed: "people", ID: "p4", Type: "t", Subject: "bob", Data: []byte(`{}`)}); err != nil {
		t.Errorf("AppendTx of another subject in the same transaction: %v", err)
	}
	k, err := l.Key(ctx, "people", "alice")
	if !errors.Is(err, eventfeed.ErrErased) || len(k.Secret) != 0 {
		t.Errorf("Key after Erase: %v, %d bytes; want eventfeed.ErrErased", err, len(k.Secret))
	}
}
