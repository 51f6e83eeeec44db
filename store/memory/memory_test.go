package memory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/memory"
	"github.com/eventfeed/eventfeed/store/storetest"
)

func TestLog(t *testing.T) {
	storetest.TestLog(t, func(t *testing.T) store.Log {
		l := memory.NewLog(memory.Options{})
		t.Cleanup(func() { l.Close() })
		return l
	})
}

func TestKeyring(t *testing.T) {
	storetest.TestKeyring(t, storetest.KeyringHarness{
		Open: func(t *testing.T, encrypt bool) store.Keyring {
			l := memory.NewLog(memory.Options{Encrypt: encrypt})
			t.Cleanup(func() { l.Close() })
			return l
		},
	})
}

func TestReplica(t *testing.T) {
	storetest.TestReplica(t, storetest.ReplicaHarness{
		Open: func(t *testing.T, fail func(eventfeed.Event) error) store.Replica {
			return memory.NewReplica(fail)
		},
		Applied: func(t *testing.T, r store.Replica) []string {
			var ids []string
			for _, ev := range r.(*memory.Replica).Applied() {
				ids = append(ids, ev.ID)
			}
			return ids
		},
		Parked: func(t *testing.T, r store.Replica, source string) []string {
			var ids []string
			for _, d := range r.(*memory.Replica).DeadLetters() {
				if d.Source == source {
					ids = append(ids, d.Event.ID)
				}
			}
			return ids
		},
	})
}

func TestPageSize(t *testing.T) {
	tests := []struct{ given, want int }{
		{0, store.DefaultPageSize},
		{-5, store.DefaultPageSize},
		{1, 1},
		{500, 500},
		{store.MaxPageSize + 1, store.MaxPageSize},
	}
	for _, tt := range tests {
		l := memory.NewLog(memory.Options{PageSize: tt.given})
		if _, err := l.Append(context.Background(), eventfeed.Event{Feed: "a", ID: "1", Type: "t"}); err != nil {
			t.Fatal(err)
		}
		f, err := l.Feed(context.Background(), "a")
		if err != nil || f.PageSize != tt.want {
			t.Errorf("PageSize %d: Feed = %+v, %v; want page size %d", tt.given, f, err, tt.want)
		}
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	l := memory.NewLog(memory.Options{})
	if _, err := l.Append(ctx, eventfeed.Event{Feed: "a", ID: "1", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	woke := make(chan error, 1)
	go func() {
		_, err := l.Wait(ctx, "a", 1)
		woke <- err
	}()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-woke; !errors.Is(err, eventfeed.ErrClosed) {
		t.Errorf("Wait during Close = %v, want ErrClosed", err)
	}
	calls := map[string]func() error{
		"Append": func() error { _, err := l.Append(ctx, eventfeed.Event{Feed: "a", ID: "2", Type: "t"}); return err },
		"Read":   func() error { _, err := l.Read(ctx, "a", 1, 1); return err },
		"Feed":   func() error { _, err := l.Feed(ctx, "a"); return err },
		"Feeds":  func() error { _, err := l.Feeds(ctx); return err },
		"Wait":   func() error { _, err := l.Wait(ctx, "a", 0); return err },
		"Close":  func() error { return l.Close() },
	}
	for name, call := range calls {
		err := call()
		if want := name != "Close"; want != errors.Is(err, eventfeed.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed: %v", name, err, want)
		}
	}
}

func TestReplicaKeepsCopies(t *testing.T) {
	r := memory.NewReplica(nil)
	data := []byte("abc")
	cp := store.Checkpoint{Source: "s", LastID: "1"}
	if err := r.Apply(context.Background(), at(t, r, cp), []eventfeed.Event{{ID: "1", Type: "t", Data: data}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Park(context.Background(), at(t, r, cp), eventfeed.Event{ID: "2", Type: "t", Data: data}, "why"); err != nil {
		t.Fatal(err)
	}
	data[0] = 'x'
	if got := r.Applied(); len(got) != 1 || string(got[0].Data) != "abc" {
		t.Errorf("Applied = %+v, want one event with data abc", got)
	}
	if got := r.DeadLetters(); len(got) != 1 || string(got[0].Event.Data) != "abc" || got[0].Reason != "why" || got[0].Source != "s" || got[0].Parked.IsZero() {
		t.Errorf("DeadLetters = %+v, want event 2 with data abc, reason why, source s", got)
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
