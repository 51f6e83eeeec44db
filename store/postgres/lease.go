package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/jackc/pgx/v5"
)

// A Lease checks every leaseCheck that its connection, and with it the
// advisory lock, is still alive, and gives up on it after leaseTimeout
// without an answer.
const (
	leaseCheck   = time.Second
	leaseTimeout = 5 * time.Second
)

// errReleased is a Lease's Err after Release.
var errReleased = errors.New("postgres: lease released")

// A Lease is a Replica's exclusive right to follow one source, from Lock
// until Release or until its connection fails. While it is held, the
// Replica's Apply and Park on the source commit only if no other Replica
// took the source over since (see Replica.Lock).
type Lease struct {
	r      *Replica
	source string
	token  int64

	cancel context.CancelFunc
	exited chan struct{} // closed when the watcher has closed the connection
	done   chan struct{} // closed when the lease ends

	mu  sync.Mutex
	err error
}

// Lock waits until this Replica is the one that follows source, among all
// Replicas on the same schema and database, and returns its Lease; or
// until ctx is done.
//
// It takes a session advisory lock named after source, on a connection of
// its own, so that the lease passes to the next waiting Replica as soon as
// the holder releases it or its session ends (a crash, a dropped
// connection; the server notices a vanished machine through TCP keepalives
// within about half a minute). It then increments the source's fencing
// token, waiting for any transaction of the previous holder that checked
// the old token to end, so that the checkpoint the caller reads next is
// the last one committed, and no commit of the previous holder can follow.
//
// Use the lease as the package documentation shows: run the poller until
// Done is closed, then Lock again.
func (r *Replica) Lock(ctx context.Context, source string) (*Lease, error) {
	if source == "" {
		return nil, errNoSource
	}
	if r.isClosed() {
		return nil, eventfeed.ErrClosed
	}
	conn, err := connect(ctx, r.lockCfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: lock %s: connect: %w", source, err)
	}
	var token int64
	err = func() error {
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey(r.schema, "source\x00"+source)); err != nil {
			return err
		}
		return conn.QueryRow(ctx, r.q.takeLease, source, r.holderID).Scan(&token)
	}()
	if err != nil {
		conn.Close(context.Background())
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("postgres: lock %s: %w", source, err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	l := &Lease{r: r, source: source, token: token, cancel: cancel, exited: make(chan struct{}), done: make(chan struct{})}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		cancel()
		conn.Close(context.Background())
		return nil, eventfeed.ErrClosed
	}
	r.leases[source] = l
	r.mu.Unlock()
	go l.watch(wctx, conn)
	return l, nil
}

// watch checks the connection every leaseCheck until ctx is canceled or
// the check fails, then closes the connection, which releases the lock.
func (l *Lease) watch(ctx context.Context, conn *pgx.Conn) {
	defer close(l.exited)
	defer conn.Close(context.Background())
	t := time.NewTicker(leaseCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, leaseTimeout)
		err := conn.Ping(cctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			l.end(fmt.Errorf("%w: %s: connection failed: %v", ErrLeaseLost, l.source, err))
			return
		}
	}
}

// end records why the lease ended, forgets it in its Replica and closes
// Done; only the first call counts.
func (l *Lease) end(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	l.err = err
	l.r.mu.Lock()
	if l.r.leases[l.source] == l {
		delete(l.r.leases, l.source)
	}
	l.r.mu.Unlock()
	close(l.done)
}

// Source returns the source the lease is on.
func (l *Lease) Source() string { return l.source }

// Token returns the lease's fencing token: it grows with every Lock of the
// source, by any Replica.
func (l *Lease) Token() int64 { return l.token }

// Done returns a channel closed when the lease ends: released, or lost
// with its connection. Stop following the source then.
func (l *Lease) Done() <-chan struct{} { return l.done }

// Err returns nil while the lease is held, then why it ended: an error
// wrapping ErrLeaseLost when its connection failed.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Release ends the lease and closes its connection, which lets the next
// waiting Replica take the source over. It waits for the lease's
// background check to stop; calling it again does nothing.
func (l *Lease) Release() {
	l.end(errReleased)
	l.cancel()
	<-l.exited
}
