package memory

import (
	"context"

	"github.com/eventfeed/eventfeed"
)

// Locate returns the feed and seq of the event with id; ok is false when
// the Log has no such event. A publisher uses it to resolve the
// lastEventId of an http-feeds request.
func (l *Log) Locate(ctx context.Context, id string) (feed string, seq uint64, ok bool, err error) {
	if l.closed.Load() {
		return "", 0, false, eventfeed.ErrClosed
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	pos, ok := l.ids[id]
	return pos.feed, pos.seq, ok, nil
}
