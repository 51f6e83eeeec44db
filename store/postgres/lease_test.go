package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
	"github.com/jackc/pgx/v5/pgxpool"
)

const src = "https://orders.example/feeds/orders"

type lockResult struct {
	l   *Lease
	err error
}

func startLock(ctx context.Context, r *Replica, source string) <-chan lockResult {
	ch := make(chan lockResult, 1)
	go func() {
		l, err := r.Lock(ctx, source)
		ch <- lockResult{l, err}
	}()
	return ch
}

// notYet fails t if ch delivers within a moment: it should be blocked.
func notYet[T any](t *testing.T, what string, ch <-chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s returned %+v, want it still blocked", what, v)
	case <-time.After(200 * time.Millisecond):
	}
}

func receive[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hang):
		t.Fatalf("%s did not return within %v", what, hang)
		panic("unreachable")
	}
}

func cpAt(seq int) store.Checkpoint {
	return store.Checkpoint{Source: src, Page: fmt.Sprintf("%s/e/pages/%d", src, seq/10+1), LastID: fmt.Sprintf("e%03d", seq), Seq: uint64(seq), Epoch: "e"}
}

func events(from, to int) []eventfeed.Event {
	var out []eventfeed.Event
	for i := from; i <= to; i++ {
		out = append(out, eventfeed.Event{Feed: "orders", Seq: uint64(i), ID: fmt.Sprintf("e%03d", i), Type: "t"})
	}
	return out
}

// sourceHolder returns the pid of the session holding the lease lock of
// source in schema.
func sourceHolder(t *testing.T, pool *pgxpool.Pool, schema, source string) int32 {
	t.Helper()
	return lockHolder(t, pool, lockKey(schema, "source\x00"+source))
}

func TestLockExcludes(t *testing.T) {
	schema := newSchema(t)
	a, b := openReplica(t, schema, nil), openReplica(t, schema, nil)
	ctx := context.Background()
	la, err := a.Lock(ctx, src)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	other, err := b.Lock(ctx, "https://other.example/feed")
	if err != nil {
		t.Fatalf("Lock of another source: %v", err)
	}
	defer other.Release()
	ch := startLock(ctx, b, src)
	notYet(t, "the second Lock of a held source", ch)
	la.Release()
	lb := receive(t, "Lock after Release", ch)
	if lb.err != nil {
		t.Fatalf("Lock after Release: %v", lb.err)
	}
	defer lb.l.Release()
	if lb.l.Token() <= la.Token() {
		t.Errorf("tokens %d then %d, want them to grow", la.Token(), lb.l.Token())
	}
	if !errors.Is(la.Err(), errReleased) {
		t.Errorf("Err of a released lease = %v, want it released", la.Err())
	}
	select {
	case <-la.Done():
	default:
		t.Errorf("Done of a released lease is not closed")
	}
	// a released its lease: it may not commit for src any more.
	if err := a.Apply(ctx, checkpointAt(t, a, cpAt(1)), events(1, 1)); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Apply after Release = %v, want ErrLeaseLost", err)
	}
	if err := b.Apply(ctx, checkpointAt(t, b, cpAt(1)), events(1, 1)); err != nil {
		t.Errorf("Apply by the holder = %v", err)
	}

	// A canceled Lock gives up waiting and takes nothing.
	cctx, cancel := context.WithCancel(ctx)
	ch = startLock(cctx, a, src)
	notYet(t, "Lock of a held source", ch)
	cancel()
	if r := receive(t, "canceled Lock", ch); !errors.Is(r.err, context.Canceled) {
		t.Errorf("canceled Lock = %+v, want context.Canceled", r)
	}
}

// TestFencing is the crux of failover: a holder whose session died while
// its Apply was in flight either commits before the next holder reads the
// checkpoint, or not at all; and it can never commit afterwards.
func TestFencing(t *testing.T) {
	schema := newSchema(t)
	pool := adminPool(t)
	entered, proceed := make(chan struct{}), make(chan struct{})
	slow := func(ev eventfeed.Event) error {
		if ev.ID == "e002" {
			close(entered)
			<-proceed
		}
		return nil
	}
	a := openReplica(t, schema, recorder(t, pool, schema, slow))
	b := openReplica(t, schema, recorder(t, pool, schema, nil))
	ctx := context.Background()

	la, err := a.Lock(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(ctx, checkpointAt(t, a, cpAt(1)), events(1, 1)); err != nil {
		t.Fatalf("Apply by the holder: %v", err)
	}
	applied := make(chan error, 1)
	second := checkpointAt(t, a, cpAt(2))
	go func() { applied <- a.Apply(ctx, second, events(2, 2)) }()
	<-entered // a's transaction has checked its token

	// a's lease session dies; b gets the advisory lock, but not the
	// lease: its new token waits for a's transaction.
	terminate(t, pool, sourceHolder(t, pool, schema, src))
	ch := startLock(ctx, b, src)
	notYet(t, "b's Lock while a's Apply is in flight", ch)
	close(proceed)
	if err := receive(t, "a's Apply", applied); err != nil {
		t.Fatalf("a's Apply, which checked its token before the takeover: %v", err)
	}
	lb := receive(t, "b's Lock", ch)
	if lb.err != nil {
		t.Fatalf("b's Lock: %v", lb.err)
	}
	defer lb.l.Release()
	if cp, err := b.Checkpoint(ctx, src); err != nil || cp.LastID != "e002" {
		t.Fatalf("checkpoint b resumes from = %+v, %v; want e002, the last a committed", cp, err)
	}

	// a has not necessarily noticed yet; its commits are refused anyway.
	if err := a.Apply(ctx, checkpointAt(t, a, cpAt(3)), events(3, 3)); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Apply by the stale holder = %v, want ErrLeaseLost", err)
	}
	if err := a.Park(ctx, checkpointAt(t, a, cpAt(3)), events(3, 3)[0], "x"); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Park by the stale holder = %v, want ErrLeaseLost", err)
	}
	if err := b.Apply(ctx, checkpointAt(t, b, cpAt(3)), events(3, 3)); err != nil {
		t.Errorf("Apply by the new holder: %v", err)
	}
	if got, want := appliedIDs(t, pool, schema), []string{"e001", "e002", "e003"}; !slices.Equal(got, want) {
		t.Errorf("applied %v, want %v", got, want)
	}
	select {
	case <-la.Done():
		if !errors.Is(la.Err(), ErrLeaseLost) {
			t.Errorf("Err of the lost lease = %v, want ErrLeaseLost", la.Err())
		}
	case <-time.After(hang):
		t.Errorf("the lost lease's Done was not closed")
	}
}

// TestConsumerFailover runs two instances of a consumer, each looping
// Lock, resume from the checkpoint, apply, as the package documentation
// shows. The active one's session is killed mid-stream; the other takes
// over from the checkpoint, and every event is applied once, in order.
func TestConsumerFailover(t *testing.T) {
	schema := newSchema(t)
	pool := adminPool(t)
	const total = 120
	feed := events(1, total)
	consumers := []*Replica{
		openReplica(t, schema, recorder(t, pool, schema, nil)),
		openReplica(t, schema, recorder(t, pool, schema, nil)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu      sync.Mutex
		refused int
		leads   = make(map[int]int) // consumer → leases taken
	)
	caughtUp := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for i, r := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				lease, err := r.Lock(ctx, src)
				if err != nil {
					continue
				}
				mu.Lock()
				leads[i]++
				mu.Unlock()
				for lease.Err() == nil && ctx.Err() == nil {
					cp, err := r.Checkpoint(ctx, src)
					if err != nil {
						break
					}
					next := int(cp.Seq)
					if next == total {
						once.Do(func() { close(caughtUp) })
						time.Sleep(5 * time.Millisecond)
						continue
					}
					end := min(next+3, total)
					to := cpAt(end)
					to.Version = cp.Version
					err = r.Apply(ctx, to, feed[next:end])
					if errors.Is(err, ErrLeaseLost) {
						mu.Lock()
						refused++
						mu.Unlock()
						break
					}
					time.Sleep(2 * time.Millisecond)
				}
				lease.Release()
			}
		}()
	}
	var applied []string
	eventually(t, "a consumer applying", func() bool {
		applied = appliedIDs(t, pool, schema)
		return len(applied) > 30
	})
	var victim int32
	eventually(t, "a lease holder", func() bool {
		victim = sourceHolder(t, pool, schema, src)
		return victim != 0
	})
	terminate(t, pool, victim)
	receive(t, "catching up", caughtUp)
	cancel()
	wg.Wait()

	applied = appliedIDs(t, pool, schema)
	want := make([]string, total)
	for i := range want {
		want[i] = feed[i].ID
	}
	if !slices.Equal(applied, want) {
		t.Errorf("applied %d events %v, want each of the %d once, in order", len(applied), applied, total)
	}
	if leads[0]+leads[1] < 2 {
		t.Errorf("leases taken %v, want a takeover", leads)
	}
	t.Logf("leases taken per consumer %v, stale commits refused %d", leads, refused)
}
