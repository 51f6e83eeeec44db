package notify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
)

func TestSet(t *testing.T) {
	var h Heads
	for _, f := range []store.Feed{
		{Name: "b", Epoch: "e1", Head: 1},
		{Name: "a", Epoch: "e1", Head: 1},
		{Name: "b", Epoch: "e1", Head: 3},
		{Name: "b", Epoch: "e1", Head: 2}, // older: ignored
		{Name: "a", Epoch: "e2", Head: 1}, // new epoch: replaces (same head)
		{Name: "c", Epoch: "e1", Head: 5},
	} {
		h.Set(f)
	}
	tests := []struct {
		name  string
		epoch string
		head  uint64
		ok    bool
	}{
		{"a", "e2", 1, true},
		{"b", "e1", 3, true},
		{"c", "e1", 5, true},
		{"d", "", 0, false},
	}
	for _, tt := range tests {
		f, ok := h.Get(tt.name)
		if ok != tt.ok || f.Epoch != tt.epoch || f.Head != tt.head {
			t.Errorf("Get(%q) = %+v, %v; want epoch %q head %d, %v", tt.name, f, ok, tt.epoch, tt.head, tt.ok)
		}
	}
	var names []string
	for _, f := range h.List() {
		names = append(names, f.Name)
	}
	if got, want := names, []string{"a", "b", "c"}; !equal(got, want) {
		t.Errorf("List names = %q, want %q", got, want)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWaitPassed(t *testing.T) {
	var h Heads
	h.Set(store.Feed{Name: "a", Epoch: "e", Head: 4})
	f, err := h.Wait(context.Background(), "a", 3)
	if err != nil || f.Head != 4 {
		t.Fatalf("Wait(after 3) = %+v, %v; want head 4, nil", f, err)
	}
}

func TestWaitWakesAll(t *testing.T) {
	var h Heads
	h.Set(store.Feed{Name: "a", Epoch: "e", Head: 1})
	const n = 100
	var (
		wg      sync.WaitGroup
		started sync.WaitGroup
		errs    = make(chan error, 2*n)
	)
	for _, feed := range []string{"a", "new"} {
		for range n {
			wg.Add(1)
			started.Add(1)
			go func() {
				defer wg.Done()
				started.Done()
				f, err := h.Wait(context.Background(), feed, 1)
				if err == nil && f.Head != 2 {
					err = fmt.Errorf("Wait(%q, 1) woke with head %d, want 2", feed, f.Head)
				}
				errs <- err
			}()
		}
	}
	started.Wait()
	h.Set(store.Feed{Name: "a", Epoch: "e", Head: 2})
	h.Set(store.Feed{Name: "new", Epoch: "e", Head: 2})
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestWaitCancel(t *testing.T) {
	var h Heads
	h.Set(store.Feed{Name: "a", Epoch: "e", Head: 1})
	for _, name := range []string{"a", "unknown"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		_, err := h.Wait(ctx, name, 1)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait(%q) = %v, want context.DeadlineExceeded", name, err)
		}
	}
}

func TestClose(t *testing.T) {
	var h Heads
	h.Set(store.Feed{Name: "a", Epoch: "e", Head: 1})
	done := make(chan error, 2)
	for _, name := range []string{"a", "unknown"} {
		go func() {
			_, err := h.Wait(context.Background(), name, 1)
			done <- err
		}()
	}
	h.Close()
	for range 2 {
		if err := <-done; !errors.Is(err, eventfeed.ErrClosed) {
			t.Errorf("Wait after Close = %v, want ErrClosed", err)
		}
	}
	if _, err := h.Wait(context.Background(), "a", 0); !errors.Is(err, eventfeed.ErrClosed) {
		t.Errorf("Wait on a closed table = %v, want ErrClosed", err)
	}
}

func BenchmarkGet(b *testing.B) {
	var h Heads
	h.Set(store.Feed{Name: "orders", Epoch: "e", Head: 1})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := h.Get("orders"); !ok {
				b.Fatal("not found")
			}
		}
	})
}
