package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// recorder is a projection that records the IDs it applies in the
// schema's applied table, in the caller's transaction, after asking fail.
func recorder(t testing.TB, pool *pgxpool.Pool, schema string, fail func(eventfeed.Event) error) Projection {
	t.Helper()
	s := pgx.Identifier{schema}.Sanitize()
	if _, err := pool.Exec(context.Background(), fmt.Sprintf(`CREATE SCHEMA IF NOT EXISTS %[1]s;
CREATE TABLE IF NOT EXISTS %[1]s.applied (n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id text NOT NULL)`, s)); err != nil {
		t.Fatalf("create the applied table: %v", err)
	}
	insert := fmt.Sprintf(`INSERT INTO %s.applied (id) VALUES ($1)`, s)
	return func(ctx context.Context, tx pgx.Tx, ev eventfeed.Event) error {
		if fail != nil {
			if err := fail(ev); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, insert, ev.ID)
		return err
	}
}

// appliedIDs returns what recorder committed in schema, in order.
func appliedIDs(t testing.TB, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	rows, _ := pool.Query(context.Background(), fmt.Sprintf(`SELECT id FROM %s.applied ORDER BY n`, pgx.Identifier{schema}.Sanitize()))
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read applied IDs: %v", err)
	}
	return ids
}

func openReplica(t testing.TB, schema string, project Projection) *Replica {
	t.Helper()
	r, err := OpenReplica(context.Background(), testDSN(t), ReplicaOptions{Schema: schema, Projection: project})
	if err != nil {
		t.Fatalf("OpenReplica: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestReplicaConformance(t *testing.T) {
	testDSN(t)
	schemas := make(map[store.Replica]string)
	storetest.TestReplica(t, storetest.ReplicaHarness{
		Open: func(t *testing.T, fail func(eventfeed.Event) error) store.Replica {
			schema := newSchema(t)
			r := openReplica(t, schema, recorder(t, adminPool(t), schema, fail))
			schemas[r] = schema
			return r
		},
		Applied: func(t *testing.T, r store.Replica) []string {
			return appliedIDs(t, adminPool(t), schemas[r])
		},
		Parked: func(t *testing.T, r store.Replica, source string) []string {
			dead, err := r.(*Replica).DeadLetters(context.Background(), source)
			if err != nil {
				t.Fatalf("DeadLetters: %v", err)
			}
			ids := []string{}
			for _, d := range dead {
				ids = append(ids, d.Event.ID)
			}
			if len(ids) == 0 {
				return nil
			}
			return ids
		},
	})
}

func TestLatest(t *testing.T) {
	for _, composed := range []bool{false, true} {
		t.Run(fmt.Sprintf("composed=%v", composed), func(t *testing.T) { testLatest(t, composed) })
	}
}

// testLatest runs the ready projection alone, or called from a projection
// of the caller's own.
func testLatest(t *testing.T, composed bool) {
	schema := newSchema(t)
	var project Projection
	if composed {
		pool := adminPool(t)
		record, latest := recorder(t, pool, schema, nil), Latest(schema)
		project = func(ctx context.Context, tx pgx.Tx, ev eventfeed.Event) error {
			if err := record(ctx, tx, ev); err != nil {
				return err
			}
			return latest(ctx, tx, ev)
		}
		defer func() {
			if got := appliedIDs(t, pool, schema); len(got) != 4 {
				t.Errorf("own projection applied %v, want 4 events", got)
			}
		}()
	}
	r := openReplica(t, schema, project)
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)
	evs := []eventfeed.Event{
		{Feed: "orders", Seq: 1, ID: "1", Type: "order.placed", Subject: "o-1", Time: at, Data: []byte(`{"n":1}`)},
		{Feed: "orders", Seq: 2, ID: "2", Type: "order.placed", Subject: "o-2", Time: at, Data: []byte(`{"n":2}`)},
		{Feed: "orders", Seq: 3, ID: "3", Type: "order.shipped", Subject: "o-1", Time: at.Add(time.Second), ContentType: "text/plain", Data: []byte("shipped")},
		{Feed: "stock", Seq: 1, ID: "4", Type: "stock.moved", Subject: "o-1", Time: at},
	}
	if err := r.Apply(ctx, checkpointAt(t, r, store.Checkpoint{Source: "s", Page: "p", LastID: "4", Seq: 4}), evs); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	tests := []struct {
		feed, subject string
		want          *eventfeed.Event
	}{
		{"orders", "o-1", &evs[2]},
		{"orders", "o-2", &evs[1]},
		{"stock", "o-1", &evs[3]},
		{"orders", "o-3", nil},
		{"stock", "o-2", nil},
	}
	for _, tt := range tests {
		got, err := r.Get(ctx, tt.feed, tt.subject)
		switch {
		case tt.want == nil && !errors.Is(err, ErrNotFound):
			t.Errorf("Get(%s, %s) = %+v, %v; want ErrNotFound", tt.feed, tt.subject, got, err)
		case tt.want != nil && (err != nil || got.Seq != tt.want.Seq || !got.SameContent(tt.want)):
			t.Errorf("Get(%s, %s) = %+v, %v; want %+v", tt.feed, tt.subject, got, err, *tt.want)
		}
	}
}

func TestDeadLetters(t *testing.T) {
	r := openReplica(t, newSchema(t), nil)
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)
	bad := []eventfeed.Event{
		{Feed: "orders", Seq: 7, ID: "7", Type: "order.placed", Subject: "o-7", Time: at, ContentType: "application/xml", Data: []byte("<x/>")},
		{Feed: "orders", Seq: 9, ID: "9", Type: "order.placed", Time: at},
	}
	for i, ev := range bad {
		if err := r.Park(ctx, checkpointAt(t, r, store.Checkpoint{Source: "a", LastID: ev.ID, Seq: ev.Seq, Page: "p"}), ev, fmt.Sprintf("reason %d", i)); err != nil {
			t.Fatalf("Park: %v", err)
		}
	}
	dead, err := r.DeadLetters(ctx, "a")
	if err != nil || len(dead) != len(bad) {
		t.Fatalf("DeadLetters = %+v, %v; want %d", dead, err, len(bad))
	}
	for i, d := range dead {
		if d.Source != "a" || d.Reason != fmt.Sprintf("reason %d", i) || d.Event.Seq != bad[i].Seq || !d.Event.SameContent(&bad[i]) || d.Parked.IsZero() {
			t.Errorf("dead letter %d = %+v, want %+v with reason %d", i, d, bad[i], i)
		}
	}
	if other, err := r.DeadLetters(ctx, "b"); err != nil || len(other) != 0 {
		t.Errorf("DeadLetters(b) = %+v, %v; want none", other, err)
	}
	if cp, _ := r.Checkpoint(ctx, "a"); cp.LastID != "9" {
		t.Errorf("checkpoint after Park = %+v, want LastID 9", cp)
	}
}

func TestReplicaClosed(t *testing.T) {
	r := openReplica(t, newSchema(t), nil)
	r.Close()
	ctx := context.Background()
	cp := store.Checkpoint{Source: "s", LastID: "1"}
	for name, err := range map[string]error{
		"Apply":      r.Apply(ctx, cp, nil),
		"Park":       r.Park(ctx, cp, eventfeed.Event{ID: "1"}, "x"),
		"Checkpoint": func() error { _, err := r.Checkpoint(ctx, "s"); return err }(),
		"Lock":       func() error { _, err := r.Lock(ctx, "s"); return err }(),
		"Get":        func() error { _, err := r.Get(ctx, "f", "s"); return err }(),
	} {
		if !errors.Is(err, eventfeed.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

// checkpointAt returns cp with the Version of r's stored checkpoint of its source,
// as a consumer that read the checkpoint sends it.
func checkpointAt(t testing.TB, r store.Replica, cp store.Checkpoint) store.Checkpoint {
	t.Helper()
	stored, err := r.Checkpoint(context.Background(), cp.Source)
	if err != nil {
		t.Fatalf("Checkpoint(%q): %v", cp.Source, err)
	}
	cp.Version = stored.Version
	return cp
}

// TestLatestTombstone applies a tombstone through the batched projection
// and through Latest: the erased subject's row goes, the others stay.
func TestLatestTombstone(t *testing.T) {
	for _, explicit := range []bool{false, true} {
		t.Run(fmt.Sprintf("explicit=%v", explicit), func(t *testing.T) {
			schema := newSchema(t)
			var project Projection
			if explicit {
				project = Latest(schema)
			}
			r := openReplica(t, schema, project)
			ctx := context.Background()
			at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			evs := []eventfeed.Event{
				{Feed: "people", Seq: 1, ID: "1", Type: "person.registered", Subject: "alice", Time: at, Data: []byte(`{"n":1}`)},
				{Feed: "people", Seq: 2, ID: "2", Type: "person.registered", Subject: "bob", Time: at, Data: []byte(`{"n":2}`)},
				{Feed: "other", Seq: 1, ID: "3", Type: "person.registered", Subject: "alice", Time: at, Data: []byte(`{"n":3}`)},
			}
			if err := r.Apply(ctx, checkpointAt(t, r, store.Checkpoint{Source: "s", Page: "p", LastID: "3", Seq: 3}), evs); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			// In one batch: another event of alice, then her tombstone.
			more := []eventfeed.Event{
				{Feed: "people", Seq: 3, ID: "4", Type: "person.moved", Subject: "alice", Time: at, Data: []byte(`{"n":4}`)},
				{Feed: "people", Seq: 4, ID: "5", Type: eventfeed.TypeErased, Subject: "alice", Time: at},
				{Feed: "people", Seq: 5, ID: "6", Type: "person.moved", Subject: "bob", Time: at, Data: []byte(`{"n":6}`)},
			}
			if err := r.Apply(ctx, checkpointAt(t, r, store.Checkpoint{Source: "s", Page: "p", LastID: "6", Seq: 6}), more); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if got, err := r.Get(ctx, "people", "alice"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(people, alice) after her tombstone = %+v, %v; want ErrNotFound", got, err)
			}
			if got, err := r.Get(ctx, "people", "bob"); err != nil || got.ID != "6" {
				t.Errorf("Get(people, bob) = %+v, %v; want event 6", got, err)
			}
			if got, err := r.Get(ctx, "other", "alice"); err != nil || got.ID != "3" {
				t.Errorf("Get(other, alice) = %+v, %v; want event 3", got, err)
			}
		})
	}
}
