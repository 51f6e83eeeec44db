package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/sqlite"
	"github.com/eventfeed/eventfeed/store/storetest"
)

func openReplica(t testing.TB, path string, opt sqlite.ReplicaOptions) *sqlite.Replica {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "replica.db")
	}
	r, err := sqlite.OpenReplica(context.Background(), path, opt)
	if err != nil {
		t.Fatalf("OpenReplica: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func TestReplica(t *testing.T) {
	storetest.TestReplica(t, storetest.ReplicaHarness{
		Open: func(t *testing.T, fail func(eventfeed.Event) error) store.Replica {
			r := openReplica(t, "", sqlite.ReplicaOptions{
				Projection: func(ctx context.Context, tx *sql.Tx, ev eventfeed.Event) error {
					if err := fail(ev); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, `INSERT INTO applied (id) VALUES (?)`, ev.ID)
					return err
				},
			})
			if _, err := r.DB().Exec(`CREATE TABLE applied (n INTEGER PRIMARY KEY, id TEXT NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			return r
		},
		Applied: func(t *testing.T, r store.Replica) []string {
			rows, err := r.(*sqlite.Replica).DB().Query(`SELECT id FROM applied ORDER BY n`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var ids []string
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			return ids
		},
		Parked: func(t *testing.T, r store.Replica, source string) []string {
			dead, err := r.(*sqlite.Replica).DeadLetters(context.Background(), source)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, d := range dead {
				ids = append(ids, d.Event.ID)
			}
			return ids
		},
	})
}

const source = "https://shop.example/feeds/orders"

func TestLatest(t *testing.T) {
	ctx := context.Background()
	binary := []byte{0, 1, 2, 0xff, 0xfe}
	events := []eventfeed.Event{
		{Feed: source, Seq: 1, ID: "1", Type: "order.placed", Subject: "order-1", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Data: []byte(`{"v":1}`)},
		{Feed: source, Seq: 2, ID: "2", Type: "order.placed", Subject: "order-2", Time: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), ContentType: "application/octet-stream", Data: binary},
		{Feed: source, Seq: 3, ID: "3", Type: "order.paid", Subject: "order-1", Time: time.Date(2026, 1, 2, 3, 4, 6, 0, time.FixedZone("X", 7200)), Data: []byte(`{"v":2}`)},
		{Feed: "other", Seq: 1, ID: "4", Type: "x", Subject: "order-1"},
		{Feed: source, Seq: 4, ID: "5", Type: "note"},
	}
	for _, tt := range []struct {
		name string
		opt  sqlite.ReplicaOptions
	}{
		{"default", sqlite.ReplicaOptions{}},
		{"explicit", sqlite.ReplicaOptions{Projection: sqlite.Latest}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := openReplica(t, "", tt.opt)
			if err := r.Apply(ctx, at(t, r, store.Checkpoint{Source: source, LastID: "5"}), events); err != nil {
				t.Fatal(err)
			}
			for _, want := range []eventfeed.Event{events[2], events[1], events[3], events[4]} {
				got, err := r.Get(ctx, want.Feed, want.Subject)
				if err != nil {
					t.Errorf("Get(%q, %q): %v", want.Feed, want.Subject, err)
					continue
				}
				if got.ID != want.ID || got.Seq != want.Seq || got.Type != want.Type || !got.Time.Equal(want.Time) ||
					got.ContentType != want.ContentType || string(got.Data) != string(want.Data) || got.Feed != want.Feed || got.Subject != want.Subject {
					t.Errorf("Get(%q, %q) = %+v, want %+v", want.Feed, want.Subject, got, want)
				}
			}
			for _, key := range [][2]string{{source, "order-3"}, {"nothing", "order-1"}} {
				if got, err := r.Get(ctx, key[0], key[1]); !errors.Is(err, sqlite.ErrNotFound) {
					t.Errorf("Get(%q, %q) = %+v, %v; want ErrNotFound", key[0], key[1], got, err)
				}
			}
		})
	}
}

// TestLatestBatch applies a batch longer than the default projection's
// chunks, with subjects repeated across them, and one whose event in the
// middle of a chunk fails.
func TestLatestBatch(t *testing.T) {
	ctx := context.Background()
	r := openReplica(t, "", sqlite.ReplicaOptions{})
	var events []eventfeed.Event
	for i := range 150 {
		events = append(events, eventfeed.Event{Feed: source, Seq: uint64(i + 1), ID: fmt.Sprint(i), Type: "t", Subject: fmt.Sprint("s", i%7)})
	}
	if err := r.Apply(ctx, at(t, r, store.Checkpoint{Source: source, LastID: "149"}), events); err != nil {
		t.Fatal(err)
	}
	for s := range 7 {
		last := 149 - (149-s)%7 // the last i with i%7 == s
		if got, err := r.Get(ctx, source, fmt.Sprint("s", s)); err != nil || got.ID != fmt.Sprint(last) {
			t.Errorf("Get(s%d) = %+v, %v; want event %d", s, got, err, last)
		}
	}

	if _, err := r.DB().ExecContext(ctx, `CREATE TRIGGER refuse BEFORE INSERT ON eventfeed_latest
		WHEN NEW.id = 'bad' BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	var more []eventfeed.Event
	for i := range 100 {
		id := fmt.Sprint("more-", i)
		if i == 40 {
			id = "bad"
		}
		more = append(more, eventfeed.Event{Feed: source, ID: id, Type: "t", Subject: fmt.Sprint("m", i)})
	}
	err := r.Apply(ctx, at(t, r, store.Checkpoint{Source: source, LastID: "more-99"}), more)
	if ae := store.AsApplyError(err); ae == nil || ae.Event.ID != "bad" {
		t.Fatalf("Apply = %v, want an ApplyError naming event bad", err)
	}
	if _, err := r.Get(ctx, source, "m0"); !errors.Is(err, sqlite.ErrNotFound) {
		t.Errorf("Get(m0) after the failed batch = %v, want ErrNotFound", err)
	}
	if cp, _ := r.Checkpoint(ctx, source); cp.LastID != "149" {
		t.Errorf("checkpoint at %q after the failed batch, want 149", cp.LastID)
	}
}

// TestProjectionWithLatest combines the ready projection with a table of
// the caller's, and checks that a failure rolls both back.
func TestProjectionWithLatest(t *testing.T) {
	ctx := context.Background()
	r := openReplica(t, "", sqlite.ReplicaOptions{
		Projection: func(ctx context.Context, tx *sql.Tx, ev eventfeed.Event) error {
			if err := sqlite.Latest(ctx, tx, ev); err != nil {
				return err
			}
			if ev.Type == "order.cancelled" {
				_, err := tx.ExecContext(ctx, `DELETE FROM totals WHERE subject = ?`, ev.Subject)
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO totals (subject, n) VALUES (?, 1)
				ON CONFLICT (subject) DO UPDATE SET n = n + 1`, ev.Subject)
			return err
		},
	})
	if _, err := r.DB().ExecContext(ctx, `CREATE TABLE totals (subject TEXT PRIMARY KEY, n INTEGER NOT NULL CHECK (n < 3))`); err != nil {
		t.Fatal(err)
	}
	e := func(id, typ, subject string) eventfeed.Event {
		return eventfeed.Event{Feed: source, ID: id, Type: typ, Subject: subject}
	}
	if err := r.Apply(ctx, at(t, r, store.Checkpoint{Source: source, LastID: "2"}), []eventfeed.Event{e("1", "order.placed", "o1"), e("2", "order.paid", "o1")}); err != nil {
		t.Fatal(err)
	}
	// The third event for o1 breaks the CHECK: nothing of the batch stays.
	err := r.Apply(ctx, at(t, r, store.Checkpoint{Source: source, LastID: "4"}), []eventfeed.Event{e("3", "order.placed", "o2"), e("4", "order.shipped", "o1")})
	if ae := store.AsApplyError(err); ae == nil || ae.Event.ID != "4" {
		t.Fatalf("Apply breaking the projection = %v, want an ApplyError for event 4", err)
	}
	if got, err := r.Get(ctx, source, "o1"); err != nil || got.ID != "2" {
		t.Errorf("Get(o1) after the failed batch = %+v, %v; want event 2", got, err)
	}
	if _, err := r.Get(ctx, source, "o2"); !errors.Is(err, sqlite.ErrNotFound) {
		t.Errorf("Get(o2) after the failed batch = %v, want ErrNotFound", err)
	}
	var n int
	if err := r.DB().QueryRowContext(ctx, `SELECT count(*) FROM totals`).Scan(&n); err != nil || n != 1 {
		t.Errorf("totals has %d rows (%v), want 1", n, err)
	}
	if cp, _ := r.Checkpoint(ctx, source); cp.LastID != "2" {
		t.Errorf("checkpoint at %q after the failed batch, want 2", cp.LastID)
	}
}

func TestDeadLetters(t *testing.T) {
	ctx := context.Background()
	r := openReplica(t, "", sqlite.ReplicaOptions{})
	tm := time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC)
	a := eventfeed.Event{Feed: source, Seq: 7, ID: "a", Type: "t", Subject: "s", Time: tm, ContentType: "text/plain", Data: []byte("why")}
	b := eventfeed.Event{Feed: source, Seq: 9, ID: "b", Type: "t"}
	for _, p := range []struct {
		ev     eventfeed.Event
		reason string
	}{{a, "first"}, {b, "second"}, {a, "again"}} {
		if err := r.Park(ctx, at(t, r, store.Checkpoint{Source: source, LastID: p.ev.ID}), p.ev, p.reason); err != nil {
			t.Fatal(err)
		}
	}
	dead, err := r.DeadLetters(ctx, source)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		ev     eventfeed.Event
		reason string
	}{{a, "again"}, {b, "second"}}
	if len(dead) != len(want) {
		t.Fatalf("DeadLetters = %+v, want %d", dead, len(want))
	}
	for i, w := range want {
		d := dead[i]
		if d.Source != source || d.Reason != w.reason || d.Parked.IsZero() || d.Event.ID != w.ev.ID || d.Event.Seq != w.ev.Seq ||
			!d.Event.Time.Equal(w.ev.Time) || d.Event.ContentType != w.ev.ContentType || string(d.Event.Data) != string(w.ev.Data) || d.Event.Feed != w.ev.Feed {
			t.Errorf("DeadLetters[%d] = %+v, want %+v with reason %q", i, d, w.ev, w.reason)
		}
	}
	if other, err := r.DeadLetters(ctx, "elsewhere"); err != nil || len(other) != 0 {
		t.Errorf("DeadLetters of another source = %+v, %v; want none", other, err)
	}
	if _, err := r.Get(ctx, source, "s"); !errors.Is(err, sqlite.ErrNotFound) {
		t.Errorf("Get of a parked event's subject = %v, want ErrNotFound (parked, not applied)", err)
	}
}

func TestReplicaReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "replica.db")
	r, err := sqlite.OpenReplica(ctx, path, sqlite.ReplicaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cp := store.Checkpoint{Source: source, Page: source + "/e/pages/1", LastID: "1", Seq: 1, Epoch: "e"}
	if err := r.Apply(ctx, at(t, r, cp), []eventfeed.Event{{Feed: source, Seq: 1, ID: "1", Type: "t", Subject: "s"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r = openReplica(t, path, sqlite.ReplicaOptions{})
	got, err := r.Checkpoint(ctx, source)
	if err != nil || got.Page != cp.Page || got.LastID != "1" || got.Seq != 1 || got.Epoch != "e" || got.Updated.IsZero() {
		t.Errorf("Checkpoint after reopening = %+v, %v; want %+v", got, err, cp)
	}
	if ev, err := r.Get(ctx, source, "s"); err != nil || ev.ID != "1" {
		t.Errorf("Get after reopening = %+v, %v; want event 1", ev, err)
	}
}

func TestReplicaIncompatible(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "replica.db")
	r := openReplica(t, path, sqlite.ReplicaOptions{})
	if _, err := r.DB().ExecContext(ctx, `UPDATE eventfeed_schema SET version = 99 WHERE component = 'replica'`); err != nil {
		t.Fatal(err)
	}
	if r2, err := sqlite.OpenReplica(ctx, path, sqlite.ReplicaOptions{}); !errors.Is(err, sqlite.ErrIncompatible) {
		if err == nil {
			r2.Close()
		}
		t.Errorf("OpenReplica of a newer schema = %v, want ErrIncompatible", err)
	}
}

func TestReplicaClose(t *testing.T) {
	ctx := context.Background()
	r, err := sqlite.OpenReplica(ctx, filepath.Join(t.TempDir(), "replica.db"), sqlite.ReplicaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	cp := store.Checkpoint{Source: source}
	calls := map[string]func() error{
		"Checkpoint":  func() error { _, err := r.Checkpoint(ctx, source); return err },
		"Apply":       func() error { return r.Apply(ctx, cp, nil) },
		"Park":        func() error { return r.Park(ctx, cp, eventfeed.Event{ID: "1"}, "") },
		"Get":         func() error { _, err := r.Get(ctx, source, "s"); return err },
		"DeadLetters": func() error { _, err := r.DeadLetters(ctx, source); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, eventfeed.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

// BenchmarkApply applies batches of 500 events to the Latest documents,
// with subjects as a feed of orders has them ("lifecycle": each order gets
// four events in a row, then the next order comes) and spread over 10,000
// existing documents ("scattered").
func BenchmarkApply(b *testing.B) {
	subjects := []struct {
		name    string
		subject func(n int) int
	}{
		{"lifecycle", func(n int) int { return n / 4 }},
		{"scattered", func(int) int { return rand.IntN(10000) }},
	}
	for _, tt := range []struct {
		name string
		opt  sqlite.ReplicaOptions
	}{
		{"Latest", sqlite.ReplicaOptions{}},
		{"LatestFunc", sqlite.ReplicaOptions{Projection: sqlite.Latest}},
	} {
		for _, subj := range subjects {
			b.Run(tt.name+"/"+subj.name, func(b *testing.B) {
				r := openReplica(b, "", tt.opt)
				const size = 500
				batch := make([]eventfeed.Event, size)
				n := 0
				next := func() {
					for i := range batch {
						e := benchEvent(source, fmt.Sprintf("urn:uuid:%d", n), subj.subject(n))
						e.Seq, e.Time = uint64(n+1), time.Now()
						batch[i] = e
						n++
					}
				}
				b.ReportAllocs()
				applied := 0
				for b.Loop() {
					b.StopTimer()
					next()
					b.StartTimer()
					cp := store.Checkpoint{Source: source, Page: source + "/e/pages/1", LastID: batch[size-1].ID, Seq: uint64(n)}
					cp.Version = uint64(applied / size)
					if err := r.Apply(context.Background(), cp, batch); err != nil {
						b.Fatal(err)
					}
					applied += size
				}
				b.ReportMetric(float64(applied)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

func TestReplicaTimeRange(t *testing.T) {
	ctx := context.Background()
	r := openReplica(t, "", sqlite.ReplicaOptions{})
	ok := eventfeed.Event{Feed: source, ID: "year0", Type: "t", Subject: "a", Time: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := r.Apply(ctx, at(t, r, store.Checkpoint{Source: source, LastID: "year0"}), []eventfeed.Event{ok}); err != nil {
		t.Fatalf("Apply of year 0: %v", err)
	}
	if got, err := r.Get(ctx, source, "a"); err != nil || !got.Time.Equal(ok.Time) {
		t.Errorf("Get = %v, %v; want time %v", got.Time, err, ok.Time)
	}
	bad := eventfeed.Event{Feed: source, ID: "bad", Type: "t", Subject: "b", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	batch := make([]eventfeed.Event, 40)
	for i := range batch {
		batch[i] = eventfeed.Event{Feed: source, ID: fmt.Sprint(i), Type: "t", Subject: "c"}
	}
	batch[5] = bad
	err := r.Apply(ctx, at(t, r, store.Checkpoint{Source: source, LastID: "39"}), batch)
	if ae := store.AsApplyError(err); ae == nil || ae.Event.ID != "bad" || !errors.Is(err, eventfeed.ErrInvalidEvent) {
		t.Errorf("Apply of year 10000 = %v, want an ApplyError naming it, wrapping ErrInvalidEvent", err)
	}
	if err := r.Park(ctx, at(t, r, store.Checkpoint{Source: source, LastID: "bad"}), bad, "why"); !errors.Is(err, eventfeed.ErrInvalidEvent) {
		t.Errorf("Park of year 10000 = %v, want ErrInvalidEvent", err)
	}
	if cp, _ := r.Checkpoint(ctx, source); cp.LastID != "year0" {
		t.Errorf("checkpoint at %q, want year0", cp.LastID)
	}
}

// at returns cp with the Version of r's stored checkpoint of its source,
// as a consumer that read the checkpoint sends it.
func at(t testing.TB, r store.Replica, cp store.Checkpoint) store.Checkpoint {
	t.Helper()
	stored, err := r.Checkpoint(context.Background(), cp.Source)
	if err != nil {
		t.Fatalf("Checkpoint(%q): %v", cp.Source, err)
	}
	cp.Version = stored.Version
	return cp
}

// TestLatestOwnTransaction calls Latest outside Apply, in a transaction of
// the caller's: it prepares its own statement and stores the document.
func TestLatestOwnTransaction(t *testing.T) {
	ctx := context.Background()
	r := openReplica(t, "", sqlite.ReplicaOptions{})
	tx, err := r.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	want := eventfeed.Event{Feed: source, Seq: 7, ID: "7", Type: "order.placed", Subject: "o7", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Data: []byte(`{"v":7}`)}
	if err := sqlite.Latest(ctx, tx, want); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Get(ctx, source, "o7"); err != nil || got.ID != "7" || got.Seq != 7 || string(got.Data) != `{"v":7}` {
		t.Errorf("Get(o7) = %+v, %v; want event 7", got, err)
	}
}

// TestLatestTombstone applies a tombstone, inside a batch long enough for
// the default projection's chunks and through Latest called by a
// Projection: the erased subject's document goes, the others stay.
func TestLatestTombstone(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		opt  sqlite.ReplicaOptions
	}{
		{"default", sqlite.ReplicaOptions{}},
		{"explicit", sqlite.ReplicaOptions{Projection: sqlite.Latest}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := openReplica(t, filepath.Join(t.TempDir(), "replica.db"), tt.opt)
			var events []eventfeed.Event
			for i := range 100 {
				if i == 70 {
					events = append(events, eventfeed.Event{Feed: source, Seq: uint64(i + 1), ID: "tomb", Type: eventfeed.TypeErased, Subject: "s3"})
					continue
				}
				subject := fmt.Sprint("s", i%7)
				if i > 70 && subject == "s3" {
					subject = "t3" // a Log appends nothing for s3 after its tombstone
				}
				events = append(events, eventfeed.Event{Feed: source, Seq: uint64(i + 1), ID: fmt.Sprint(i), Type: "t", Subject: subject,
					Data: fmt.Appendf(nil, `{"secret":"plaintext-%d"}`, i)})
			}
			// The other feed's subject of the same name is not erased.
			events = append(events, eventfeed.Event{Feed: "other", Seq: 1, ID: "o1", Type: "t", Subject: "s3"})
			if err := r.Apply(ctx, at(t, r, store.Checkpoint{Source: source, LastID: "o1"}), events); err != nil {
				t.Fatal(err)
			}
			if got, err := r.Get(ctx, source, "s3"); !errors.Is(err, sqlite.ErrNotFound) {
				t.Errorf("Get(s3) after its tombstone = %+v, %v; want ErrNotFound", got, err)
			}
			for s := range 7 {
				if s == 3 {
					continue
				}
				if _, err := r.Get(ctx, source, fmt.Sprint("s", s)); err != nil {
					t.Errorf("Get(s%d): %v", s, err)
				}
			}
			if got, err := r.Get(ctx, "other", "s3"); err != nil || got.ID != "o1" {
				t.Errorf("Get(other, s3) = %+v, %v; want event o1", got, err)
			}
			// A later event of the subject (not one of an erased subject:
			// the tombstone came before it) makes a new document.
			later := eventfeed.Event{Feed: source, Seq: 101, ID: "later", Type: "t", Subject: "s3"}
			if err := r.Apply(ctx, at(t, r, store.Checkpoint{Source: source, LastID: "later"}), []eventfeed.Event{later}); err != nil {
				t.Fatal(err)
			}
			if got, err := r.Get(ctx, source, "s3"); err != nil || got.ID != "later" {
				t.Errorf("Get(s3) = %+v, %v; want event later", got, err)
			}
		})
	}
}
