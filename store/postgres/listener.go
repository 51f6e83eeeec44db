package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/eventfeed/eventfeed/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// connectListener opens the listener's connection, listens on both
// channels, then reads every head: in that order, so that a head committed
// while connecting is either in the read or notified after it. It also
// wakes the sequencer, which may have missed notifications too.
func (l *Log) connectListener(ctx context.Context) (*pgx.Conn, error) {
	conn, err := connect(ctx, l.connCfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: listener: connect: %w", err)
	}
	for _, ch := range []string{l.outboxChannel(), l.headsChannel()} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			conn.Close(context.Background())
			return nil, fmt.Errorf("postgres: listener: listen %s: %w", ch, err)
		}
	}
	if err := l.resync(ctx); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	l.wake()
	return conn, nil
}

// listen handles notifications until ctx is done, reconnecting when the
// connection fails. Every resync interval, on a clock of its own that
// notifications do not restart (under steady traffic a notification always
// comes before a quiet spell of that length), it rereads the heads, in
// case one was lost, and lets the sequencer look at the outbox.
func (l *Log) listen(ctx context.Context, conn *pgx.Conn) {
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	backoff := minBackoff
	next := time.Now().Add(l.resyncEvery)
	for {
		if conn == nil {
			c, err := l.connectListener(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				l.log.Warn("listener cannot reconnect", "err", err, "retry", backoff)
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			l.log.Info("listener reconnected")
			conn, backoff = c, minBackoff
			next = time.Now().Add(l.resyncEvery) // connecting resynced
		}
		if !time.Now().Before(next) {
			if err := l.resync(ctx); err != nil && ctx.Err() == nil {
				l.log.Warn("resync failed", "err", err)
			}
			l.wake()
			next = time.Now().Add(l.resyncEvery)
		}
		wctx, cancel := context.WithDeadline(ctx, next)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			l.handle(n)
		case ctx.Err() != nil:
			return
		case wctx.Err() != nil && !conn.IsClosed():
			// The resync is due: at the top of the loop.
		default:
			if !errors.Is(err, context.Canceled) {
				l.log.Warn("listener connection lost", "err", err)
			}
			conn.Close(context.Background())
			conn = nil
		}
	}
}

// handle acts on one notification.
func (l *Log) handle(n *pgconn.Notification) {
	switch n.Channel {
	case l.outboxChannel():
		l.wake()
	case l.headsChannel():
		f, err := parseHead(n.Payload)
		if err != nil {
			l.log.Warn("ignoring a malformed head notification", "payload", n.Payload, "err", err)
			return
		}
		l.setHead(f)
	}
}

// formatHead is the payload of a head notification: head, page size, the
// Updated time as Unix seconds and nanoseconds, epoch and name, separated
// by spaces (neither an epoch nor a feed name has one).
func formatHead(f store.Feed) string {
	return fmt.Sprintf("%d %d %d %d %s %s", f.Head, f.PageSize, f.Updated.Unix(), f.Updated.Nanosecond(), f.Epoch, f.Name)
}

// parseHead undoes formatHead.
func parseHead(s string) (store.Feed, error) {
	p := strings.Split(s, " ")
	if len(p) != 6 || p[4] == "" || p[5] == "" {
		return store.Feed{}, errors.New("want 6 fields")
	}
	head, err1 := strconv.ParseUint(p[0], 10, 64)
	size, err2 := strconv.Atoi(p[1])
	sec, err3 := strconv.ParseInt(p[2], 10, 64)
	nsec, err4 := strconv.ParseInt(p[3], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return store.Feed{}, err
	}
	return store.Feed{Name: p[5], Epoch: p[4], PageSize: size, Head: head, Updated: time.Unix(sec, nsec).UTC()}, nil
}
