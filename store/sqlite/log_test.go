package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/sqlite"
	"github.com/eventfeed/eventfeed/store/storetest"
)

func openLog(t testing.TB, path string, opt sqlite.Options) *sqlite.Log {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "log.db")
	}
	l, err := sqlite.Open(context.Background(), path, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func TestLog(t *testing.T) {
	storetest.TestLog(t, func(t *testing.T) store.Log { return openLog(t, "", sqlite.Options{}) })
}

func ev(feed, id string) eventfeed.Event {
	return eventfeed.Event{Feed: feed, ID: feed + "-" + id, Type: "t", Data: []byte(`{}`)}
}

func mustAppend(t *testing.T, l store.Log, events ...eventfeed.Event) []eventfeed.Event {
	t.Helper()
	out, err := l.Append(context.Background(), events...)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return out
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	l, err := sqlite.Open(ctx, path, sqlite.Options{PageSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	stored := mustAppend(t, l, ev("a", "1"), ev("a", "2"))
	before, _ := l.Feed(ctx, "a")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened with another page size: the feed keeps its own, new feeds
	// get the new one.
	l = openLog(t, path, sqlite.Options{PageSize: 50})
	after, err := l.Feed(ctx, "a")
	if err != nil || after != before {
		t.Errorf("Feed after reopening = %+v, %v; want %+v", after, err, before)
	}
	mustAppend(t, l, ev("a", "3"), ev("b", "1"))
	for _, tt := range []struct {
		feed       string
		head       uint64
		pageSize   int
		sameEpochs bool
	}{
		{"a", 3, 20, true},
		{"b", 1, 50, false},
	} {
		f, err := l.Feed(ctx, tt.feed)
		if err != nil || f.Head != tt.head || f.PageSize != tt.pageSize || (f.Epoch == before.Epoch) != tt.sameEpochs {
			t.Errorf("Feed(%s) = %+v, %v; want head %d, page size %d, epoch %q kept: %v", tt.feed, f, err, tt.head, tt.pageSize, before.Epoch, tt.sameEpochs)
		}
	}
	got, err := l.Read(ctx, "a", 1, 2)
	if err != nil || len(got) != 2 || got[0].ID != stored[0].ID || !got[1].Time.Equal(stored[1].Time) {
		t.Errorf("Read after reopening = %+v, %v; want %+v", got, err, stored)
	}
}

func TestOpenOptions(t *testing.T) {
	for _, size := range []int{-1, store.MaxPageSize + 1} {
		l, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "log.db"), sqlite.Options{PageSize: size})
		if err == nil {
			l.Close()
			t.Errorf("Open with page size %d succeeded, want an error", size)
		}
	}
	if _, err := sqlite.Open(context.Background(), "", sqlite.Options{}); err == nil {
		t.Errorf("Open with an empty path succeeded, want an error")
	}
}

func TestIncompatible(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	notDB := filepath.Join(dir, "text.db")
	text := bytes.Repeat([]byte("this is not a database\n"), 500)
	if err := os.WriteFile(notDB, text, 0o644); err != nil {
		t.Fatal(err)
	}
	if l, err := sqlite.Open(ctx, notDB, sqlite.Options{}); !errors.Is(err, sqlite.ErrIncompatible) {
		if err == nil {
			l.Close()
		}
		t.Errorf("Open of a text file = %v, want ErrIncompatible", err)
	}
	if got, _ := os.ReadFile(notDB); !bytes.Equal(got, text) {
		t.Errorf("Open changed the file it refused")
	}

	newer := filepath.Join(dir, "newer.db")
	l := openLog(t, newer, sqlite.Options{})
	if _, err := l.DB().ExecContext(ctx, `UPDATE eventfeed_schema SET version = version + 1 WHERE component = 'log'`); err != nil {
		t.Fatal(err)
	}
	if l2, err := sqlite.Open(ctx, newer, sqlite.Options{}); !errors.Is(err, sqlite.ErrIncompatible) {
		if err == nil {
			l2.Close()
		}
		t.Errorf("Open of a newer schema = %v, want ErrIncompatible", err)
	}
}

func TestTimeRange(t *testing.T) {
	l := openLog(t, "", sqlite.Options{})
	for _, tm := range []time.Time{
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		e := ev("a", "1")
		e.Time = tm
		if _, err := l.Append(context.Background(), ev("a", "0"), e); !errors.Is(err, eventfeed.ErrInvalidEvent) {
			t.Errorf("Append with Time %v = %v, want ErrInvalidEvent", tm, err)
		}
	}
	if feeds, _ := l.Feeds(context.Background()); len(feeds) != 0 {
		t.Errorf("Feeds after refused appends = %+v, want none", feeds)
	}
}

// TestOtherLog appends through a second Log on the same file, as another
// process would: the first one's Wait must wake and its heads follow.
func TestOtherLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	first := openLog(t, path, sqlite.Options{})
	second := openLog(t, path, sqlite.Options{})
	mustAppend(t, first, ev("a", "1"))

	for _, tt := range []struct {
		feed  string
		after uint64
		ev    eventfeed.Event
	}{
		{"a", 1, ev("a", "2")},
		{"new", 0, ev("new", "1")},
	} {
		woke := make(chan error, 1)
		go func() {
			f, err := first.Wait(ctx, tt.feed, tt.after)
			if err == nil && f.Head != tt.after+1 {
				err = fmt.Errorf("woke at head %d, want %d", f.Head, tt.after+1)
			}
			woke <- err
		}()
		mustAppend(t, second, tt.ev)
		if err := <-woke; err != nil {
			t.Errorf("Wait(%s) on the first Log: %v", tt.feed, err)
		}
		if f, err := first.Feed(ctx, tt.feed); err != nil || f.Head != tt.after+1 {
			t.Errorf("Feed(%s) on the first Log = %+v, %v; want head %d", tt.feed, f, err, tt.after+1)
		}
	}
	// Both see the same feeds, epochs included.
	a, _ := first.Feeds(ctx)
	b, _ := second.Feeds(ctx)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("Feeds differ between Logs on one file:\n%+v\n%+v", a, b)
	}
}

// TestOtherProcess appends from a child process while this one waits.
func TestOtherProcess(t *testing.T) {
	if path := os.Getenv("EVENTFEED_SQLITE_APPEND"); path != "" {
		// The child: append one event and exit.
		l, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		id := os.Getenv("EVENTFEED_SQLITE_APPEND_ID")
		if id == "" {
			id = "from-child"
		}
		mustAppend(t, l, ev("a", id))
		return
	}
	if testing.Short() {
		t.Skip("starts a process")
	}
	path := filepath.Join(t.TempDir(), "log.db")
	l := openLog(t, path, sqlite.Options{})
	mustAppend(t, l, ev("a", "1"))
	woke := make(chan error, 1)
	go func() {
		_, err := l.Wait(context.Background(), "a", 1)
		woke <- err
	}()
	appendFromChild(t, path, "")
	if err := <-woke; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	got, err := l.Read(context.Background(), "a", 2, 2)
	if err != nil || len(got) != 1 || got[0].ID != "a-from-child" {
		t.Errorf("Read(2) = %+v, %v; want the child's event", got, err)
	}
}

// appendFromChild appends the event ev("a", id) to the log at path from a
// child process (TestOtherProcess's), and returns once it has exited. An
// empty id means "from-child".
func appendFromChild(t *testing.T, path, id string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOtherProcess$")
	cmd.Env = append(os.Environ(), "EVENTFEED_SQLITE_APPEND="+path, "EVENTFEED_SQLITE_APPEND_ID="+id)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
}

// TestIdle checks that a Log with no Wait under way does not look at the
// file, and that a Wait arriving later, and Feed, still see what another
// process appended meanwhile.
func TestIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const interval = time.Millisecond
	// quiet is long enough for a polling Log to look dozens of times.
	const quiet = 50 * interval
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	l := openLog(t, path, sqlite.Options{PollInterval: interval})
	mustAppend(t, l, ev("a", "1"))

	// No Wait: no look, whatever other processes do.
	looks := sqlite.Looks(l)
	appendFromChild(t, path, "2")
	time.Sleep(quiet)
	if got := sqlite.Looks(l); got != looks {
		t.Errorf("%d looks with no Wait under way, want none", got-looks)
	}

	// A Wait arriving later sees the other process's event.
	f, err := l.Wait(ctx, "a", 1)
	if err != nil || f.Head != 2 {
		t.Fatalf("Wait(a, 1) after another process appended = head %d, %v; want head 2", f.Head, err)
	}
	if got, err := l.Read(ctx, "a", 2, 2); err != nil || len(got) != 1 || got[0].ID != "a-2" {
		t.Errorf("Read(2) = %+v, %v; want the child's event", got, err)
	}

	// Once no Wait is under way, the looks stop: one may have been due
	// already when the Wait returned.
	looks = sqlite.Looks(l)
	time.Sleep(quiet)
	if got := sqlite.Looks(l); got > looks+1 {
		t.Errorf("%d looks after the Wait returned, want at most 1", got-looks)
	}

	// Feed and Feeds include a commit made PollInterval ago or earlier,
	// without any Wait.
	looks = sqlite.Looks(l)
	appendFromChild(t, path, "3")
	time.Sleep(interval)
	if f, err := l.Feed(ctx, "a"); err != nil || f.Head != 3 {
		t.Errorf("Feed(a) after another process appended = head %d, %v; want head 3", f.Head, err)
	}
	if feeds, err := l.Feeds(ctx); err != nil || len(feeds) != 1 || feeds[0].Head != 3 {
		t.Errorf("Feeds after another process appended = %+v, %v; want a at head 3", feeds, err)
	}
	if got := sqlite.Looks(l); got == looks {
		t.Errorf("Feed did not look at the file")
	}
}

func TestAppendTx(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, "", sqlite.Options{})
	db := l.DB()
	if _, err := db.ExecContext(ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER)`); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, ev("orders", "0"))

	// Rolled back: neither the order nor the event.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO orders VALUES ('o1', 10)`); err != nil {
		t.Fatal(err)
	}
	if got, err := l.AppendTx(ctx, tx, ev("orders", "1")); err != nil || len(got) != 1 || got[0].Seq != 2 {
		t.Fatalf("AppendTx = %+v, %v; want the event at seq 2", got, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	// A conflict leaves the transaction usable: the order commits, the
	// events of the refused call do not.
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO orders VALUES ('o2', 20)`); err != nil {
		t.Fatal(err)
	}
	conflicting := ev("orders", "0")
	conflicting.Data = []byte(`{"other":true}`)
	if _, err := l.AppendTx(ctx, tx, ev("orders", "2"), conflicting); !errors.Is(err, eventfeed.ErrConflict) {
		t.Fatalf("AppendTx with a conflict = %v, want ErrConflict", err)
	}
	stored, err := l.AppendTx(ctx, tx, ev("orders", "3"), ev("orders", "0"))
	if err != nil || len(stored) != 2 || stored[0].Seq != 2 || stored[1].Seq != 1 {
		t.Fatalf("AppendTx after a conflict = %+v, %v; want seqs 2 and 1 (a replay)", stored, err)
	}
	// Committed: a long poll learns of it.
	woke := make(chan error, 1)
	go func() {
		f, err := l.Wait(ctx, "orders", 1)
		if err == nil && f.Head != 2 {
			err = fmt.Errorf("woke at head %d, want 2", f.Head)
		}
		woke <- err
	}()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	l.Notify()
	if err := <-woke; err != nil {
		t.Errorf("Wait after the commit: %v", err)
	}
	var orders []string
	rows, err := db.QueryContext(ctx, `SELECT id FROM orders ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		orders = append(orders, id)
	}
	rows.Close()
	if fmt.Sprint(orders) != "[o2]" {
		t.Errorf("orders = %v, want [o2]", orders)
	}
	events, err := l.Read(ctx, "orders", 1, 10)
	if err != nil || len(events) != 2 || events[1].ID != "orders-3" {
		t.Errorf("Read = %+v, %v; want events 0 and 3", events, err)
	}
}

// TestNotifyReadYourWrites commits AppendTx transactions and calls Notify:
// when it returns, Feed already reports the new head, so that a service
// that appended and then serves its own feed (the orders example) shows
// what it just wrote.
func TestNotifyReadYourWrites(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, "", sqlite.Options{PollInterval: time.Hour}) // only Notify looks
	for i := 1; i <= 50; i++ {
		tx, err := l.DB().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.AppendTx(ctx, tx, ev("orders", strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		l.Notify()
		if f, err := l.Feed(ctx, "orders"); err != nil || f.Head != uint64(i) {
			t.Fatalf("Feed right after commit %d and Notify = head %d, %v; want head %d", i, f.Head, err, i)
		}
	}
	l.Close()
	l.Notify() // returns on a closed Log
}

// TestAppendTxWithoutNotify checks that the poll alone finds a commit.
func TestAppendTxWithoutNotify(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, "", sqlite.Options{})
	woke := make(chan error, 1)
	go func() {
		_, err := l.Wait(ctx, "a", 0)
		woke <- err
	}()
	tx, err := l.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendTx(ctx, tx, ev("a", "1")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Errorf("Wait: %v", err)
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	// watchers waits for the number of running watchers to become want,
	// and returns the last number seen: a goroutine just started or just
	// joined may take a moment to show in the list or to leave it.
	watchers := func(want int) int {
		var n int
		for range 500 {
			buf := make([]byte, 4<<20)
			n = strings.Count(string(buf[:runtime.Stack(buf, true)]), "sqlite.(*Log).watch(")
			if n == want {
				break
			}
			time.Sleep(time.Millisecond)
		}
		return n
	}
	before := watchers(0)
	l, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "log.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, ev("a", "1"))
	if got := watchers(before + 1); got != before+1 {
		t.Errorf("%d watchers running after Open, want %d", got, before+1)
	}
	woke := make(chan error, 1)
	go func() {
		_, err := l.Wait(ctx, "a", 1)
		woke <- err
	}()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := watchers(before); got != before {
		t.Errorf("%d watchers running after Close, want %d", got, before)
	}
	if err := <-woke; !errors.Is(err, eventfeed.ErrClosed) {
		t.Errorf("Wait during Close = %v, want ErrClosed", err)
	}
	calls := map[string]func() error{
		"Append":   func() error { _, err := l.Append(ctx, ev("a", "2")); return err },
		"AppendTx": func() error { _, err := l.AppendTx(ctx, nil, ev("a", "2")); return err },
		"Read":     func() error { _, err := l.Read(ctx, "a", 1, 1); return err },
		"Feed":     func() error { _, err := l.Feed(ctx, "a"); return err },
		"Feeds":    func() error { _, err := l.Feeds(ctx); return err },
		"Wait":     func() error { _, err := l.Wait(ctx, "a", 0); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, eventfeed.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestReadCanceled(t *testing.T) {
	l := openLog(t, "", sqlite.Options{})
	mustAppend(t, l, ev("a", "1"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Read(ctx, "a", 1, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a canceled context = %v, want context.Canceled", err)
	}
}

// TestAppendTxOtherPool appends within a transaction of another pool on
// the same file, which cannot use the statements the Log prepared on its
// own: the events are stored all the same, and a refused call leaves the
// transaction usable.
func TestAppendTxOtherPool(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	l := openLog(t, path, sqlite.Options{})
	other := openLog(t, path, sqlite.Options{})
	tx, err := other.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if got, err := l.AppendTx(ctx, tx, ev("a", "1"), ev("a", "2")); err != nil || len(got) != 2 || got[1].Seq != 2 {
		t.Fatalf("AppendTx = %+v, %v; want seqs 1 and 2", got, err)
	}
	conflicting := ev("a", "1")
	conflicting.Data = []byte(`{"other":true}`)
	if _, err := l.AppendTx(ctx, tx, ev("a", "3"), conflicting); !errors.Is(err, eventfeed.ErrConflict) {
		t.Fatalf("AppendTx with a conflict = %v, want ErrConflict", err)
	}
	if got, err := l.AppendTx(ctx, tx, ev("a", "4")); err != nil || len(got) != 1 || got[0].Seq != 3 {
		t.Fatalf("AppendTx after a conflict = %+v, %v; want seq 3", got, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	rows, err := l.DB().QueryContext(ctx, `SELECT id FROM eventfeed_events WHERE feed = 'a' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a-1", "a-2", "a-4"}; !slices.Equal(ids, want) {
		t.Errorf("stored %q, want %q", ids, want)
	}
}
