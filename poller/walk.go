package poller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
)

// session is what one Sync or Run knows while it runs.
type session struct {
	cp store.Checkpoint // the last checkpoint committed
	// order is the order of the feed's entries within a page, as learned
	// from the pages whose times tell it; kept in the checkpoint.
	order store.Order
	// window is how many applied IDs the checkpoint keeps for a feed
	// without seqs: Config.RecentIDs, or more for pages that hold more
	// entries, so that a page read again is always recognised.
	window int
	// pages counts the pages visited by the current catch-up, against
	// Config.MaxPagesPerSync. The walk that runs at a time owns it.
	pages int
}

// begin reads the checkpoint a Sync or Run starts from.
func (p *Poller) begin(ctx context.Context) (*session, error) {
	src := p.source.String()
	cp, err := p.replica.Checkpoint(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("poller: read checkpoint of %s: %w", src, err)
	}
	cp.Source = src
	// What was applied lately is the checkpoint's, not this Poller's:
	// another process, or this one before a restart, may have moved it.
	p.seen = newRecentIDs(max(p.cfg.RecentIDs, len(cp.Recent)))
	for _, id := range cp.Recent {
		p.seen.add(id)
	}
	return &session{cp: cp, order: cp.Order, window: max(p.cfg.RecentIDs, len(cp.Recent))}, nil
}

// resuming reports whether the session has a position to resume from.
func (s *session) resuming() bool { return s.cp.LastID != "" }

// startURL is where a catch-up begins: the checkpoint's page, or the
// subscription document on a first run.
func (s *session) startURL(p *Poller) string {
	if s.resuming() && s.cp.Page != "" {
		return s.cp.Page
	}
	return p.source.String()
}

// visit counts one more page against the limit.
func (s *session) visit(p *Poller) error {
	s.pages++
	if s.pages > p.cfg.MaxPagesPerSync {
		return fmt.Errorf("%w: more than %d", ErrTooManyPages, p.cfg.MaxPagesPerSync)
	}
	return nil
}

// catchUp applies what the feed holds past the checkpoint, starting at
// startURL, and returns the head page it ends on.
func (p *Poller) catchUp(ctx context.Context, s *session, startURL string) (*page, error) {
	s.pages = 0
	p.count(func(st *Stats) { st.CaughtUp = false })
	if err := s.visit(p); err != nil {
		return nil, err
	}
	h, err := p.fetchPage(ctx, startURL)
	if err != nil {
		return nil, p.lostIfGone(s, err)
	}
	return p.catchUpAt(ctx, s, h)
}

// catchUpFrom is catchUp from h, a page just fetched at the head.
func (p *Poller) catchUpFrom(ctx context.Context, s *session, h *page) (*page, error) {
	s.pages = 1
	return p.catchUpAt(ctx, s, h)
}

func (p *Poller) catchUpAt(ctx context.Context, s *session, h *page) (*page, error) {
	jumps := make(map[string]bool)
	for {
		w, err := p.locate(ctx, s, h)
		if err != nil {
			return nil, err
		}
		last, err := p.forward(ctx, s, w)
		if err != nil {
			return nil, err
		}
		next := last.current
		if next == "" {
			next = p.source.String()
		}
		if !last.archive || next == last.url {
			p.count(func(st *Stats) { st.CaughtUp = true })
			p.log.Debug("at the head", "page", last.url, "pages", s.pages)
			return last, nil
		}
		// An archive without next-archive: RFC 5005 feeds go on at the
		// subscription document (current). The jump is not a link of
		// the chain, so the position is located again from there.
		if jumps[next] {
			return nil, fmt.Errorf("%w: archive %s ends the chain and links to %s again", ErrLinkLoop, last.url, next)
		}
		jumps[next] = true
		if err := s.visit(p); err != nil {
			return nil, err
		}
		if h, err = p.fetchPage(ctx, next); err != nil {
			return nil, err
		}
	}
}

// walk is a plan for forward: the pages to apply, oldest first. They are
// urls, then last (already fetched) when not nil, then the pages reached
// by next-archive links from there.
type walk struct {
	urls []string
	last *page
	// start says that the first page holds the checkpoint's position: only
	// what follows it is new.
	start bool
}

// locate finds where the checkpoint's position is, relative to h, and
// returns the walk that applies what follows it.
func (p *Poller) locate(ctx context.Context, s *session, h *page) (walk, error) {
	if !s.resuming() {
		switch {
		case h.paged && h.last != "" && h.last != h.url:
			// A paged feed's oldest page is its last (its first is
			// the newest, as EventStoreDB writes them).
			return walk{urls: []string{h.last}}, nil
		case !h.paged && h.first != "" && h.first != h.url:
			return walk{urls: []string{h.first}}, nil
		}
		path, err := p.walkBack(ctx, s, h, nil)
		if err != nil {
			return walk{}, err
		}
		return walk{urls: reversed(path[1:]), last: h}, nil
	}
	found, err := p.holds(s, h)
	if err != nil {
		return walk{}, err
	}
	if found {
		before, err := p.unappliedBefore(ctx, s, h)
		if err != nil {
			return walk{}, p.lostIfGone(s, err)
		}
		return walk{urls: before, last: h, start: true}, nil
	}
	path, err := p.walkBack(ctx, s, h, func(pg *page) (bool, error) { return p.holds(s, pg) })
	if err != nil {
		return walk{}, p.lostIfGone(s, err)
	}
	var before []string
	if !h.seq {
		at, err := p.fetchPage(ctx, path[len(path)-1]) // in the page cache, mostly
		if err != nil {
			return walk{}, p.lostIfGone(s, err)
		}
		if before, err = p.unappliedBefore(ctx, s, at); err != nil {
			return walk{}, p.lostIfGone(s, err)
		}
	}
	return walk{urls: append(before, reversed(path[1:])...), last: h, start: true}, nil
}

// unappliedBefore returns the URLs of the pages before pg, oldest first,
// that hold entries not applied, for a feed without seqs: the checkpoint's
// entry on pg may be a copy that a feed repeated after newer entries, and
// what lies between must not be skipped. Entries applied already are
// dropped again when the pages are gathered.
func (p *Poller) unappliedBefore(ctx context.Context, s *session, pg *page) ([]string, error) {
	if !p.seen.contains(s.cp.LastID) {
		// A checkpoint that keeps no IDs (written before checkpoints
		// kept them) cannot tell what was applied.
		return nil, nil
	}
	var path []string
	visited := map[string]bool{pg.url: true}
	for cur := pg; !cur.seq && cur.predecessor() != ""; {
		u := cur.predecessor()
		if visited[u] {
			return nil, fmt.Errorf("%w: the link to older entries of %s leads back to %s", ErrLinkLoop, cur.url, u)
		}
		visited[u] = true
		if err := s.visit(p); err != nil {
			return nil, err
		}
		prev, err := p.fetchPage(ctx, u)
		if err != nil {
			return nil, err
		}
		if prev.seq || !slices.ContainsFunc(prev.events, func(ev eventfeed.Event) bool { return !p.seen.contains(ev.ID) }) {
			break
		}
		path = append(path, u)
		cur = prev
	}
	return reversed(path), nil
}

// errOldest ends a walk back that reached the oldest page.
var errOldest = errors.New("reached the oldest page")

// walkBack follows prev-archive links from h until found accepts a page,
// or to the oldest page when found is nil. It returns the URLs visited,
// h's first: pages are not kept (the page cache may hold them).
func (p *Poller) walkBack(ctx context.Context, s *session, h *page, found func(*page) (bool, error)) ([]string, error) {
	visited := map[string]bool{h.url: true}
	path := []string{h.url}
	for cur := h; cur.predecessor() != ""; {
		u := cur.predecessor()
		if visited[u] {
			return nil, fmt.Errorf("%w: the link to older entries of %s leads back to %s", ErrLinkLoop, cur.url, u)
		}
		visited[u] = true
		if err := s.visit(p); err != nil {
			return nil, err
		}
		pg, err := p.fetchPage(ctx, u)
		if err != nil {
			return nil, err
		}
		path = append(path, u)
		if found != nil {
			ok, err := found(pg)
			if err != nil || ok {
				return path, err
			}
		}
		cur = pg
	}
	if found != nil {
		return nil, p.lost(s, "walked back %d pages to the oldest without finding it", len(path)-1)
	}
	return path, nil
}

// holds reports whether pg holds the checkpoint's position: its last
// entry, or (by ef:seq) the entry right after it. A page that shows the
// position taken by another entry, or shows only older entries where
// newer ones should be, means the feed lost the position.
func (p *Poller) holds(s *session, pg *page) (bool, error) {
	cp := s.cp
	if i := pg.index(cp.LastID); i >= 0 {
		if cp.Seq > 0 && pg.seq && pg.events[i].Seq != cp.Seq {
			return false, p.lost(s, "entry %s is at seq %d on %s, was %d", cp.LastID, pg.events[i].Seq, pg.url, cp.Seq)
		}
		return true, nil
	}
	if cp.Seq > 0 && pg.seq {
		lo, hi := pg.seqRange()
		switch {
		case lo == cp.Seq+1:
			return true, nil
		case lo <= cp.Seq && cp.Seq <= hi:
			return false, p.lost(s, "seq %d on %s is another entry", cp.Seq, pg.url)
		case hi < cp.Seq && pg.archive:
			return false, p.lost(s, "%s ends at seq %d, before it, and no later page holds it", pg.url, hi)
		}
	}
	return false, nil
}

// lost returns an error wrapping eventfeed.ErrCheckpointLost.
func (p *Poller) lost(s *session, format string, args ...any) error {
	at := ""
	if s.cp.Seq > 0 {
		at = fmt.Sprintf(" (seq %d)", s.cp.Seq)
	}
	return fmt.Errorf("%w: entry %s%s of page %s: %s", eventfeed.ErrCheckpointLost,
		s.cp.LastID, at, s.cp.Page, fmt.Sprintf(format, args...))
}

// lostIfGone turns a 404 or 410 met while resuming into
// eventfeed.ErrCheckpointLost, and into eventfeed.ErrFeedReset too when the
// problem detail says that the feed was reset.
func (p *Poller) lostIfGone(s *session, err error) error {
	var he *HTTPError
	if !s.resuming() || !errors.As(err, &he) || he.Status != http.StatusNotFound && he.Status != http.StatusGone {
		return err
	}
	if he.reset() {
		return fmt.Errorf("%w: %w: %w", eventfeed.ErrCheckpointLost, eventfeed.ErrFeedReset, err)
	}
	return fmt.Errorf("%w: %w", eventfeed.ErrCheckpointLost, err)
}

func reversed(s []string) []string {
	s = slices.Clone(s)
	slices.Reverse(s)
	return s
}

// fetched is a page, or the error that ended a walk, handed from the
// fetching goroutine to the applying one.
type fetched struct {
	pg  *page
	err error
}

// forward applies the pages of w in order, fetching ahead of the page
// being applied, and returns the last page: one without next-archive.
func (p *Poller) forward(ctx context.Context, s *session, w walk) (*page, error) {
	ctx, cancel := context.WithCancel(ctx)
	// The producer holds a page while it waits to hand it over, and
	// fetches the one after it meanwhile (see produce): with the channel's,
	// Config.Prefetch pages are read ahead of the one applied.
	ch := make(chan fetched, max(p.cfg.Prefetch-1-p.fetchesAhead(), 0))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ch)
		p.produce(ctx, s, w, ch)
	}()
	defer wg.Wait()
	defer cancel()

	var (
		b     batch
		last  *page
		start = w.start
	)
	take := func(f fetched) error {
		if f.err != nil {
			return f.err
		}
		if err := p.gather(ctx, s, &b, f.pg, start); err != nil {
			return err
		}
		start = false
		last = f.pg
		return nil
	}
	for f := range ch {
		err := take(f)
		// Join the pages already waiting, up to BatchSize events: fewer,
		// larger transactions while far behind, no waiting at the head.
	join:
		for err == nil && len(b.events) < p.cfg.BatchSize {
			select {
			case f, ok := <-ch:
				if !ok {
					break join
				}
				err = take(f)
			default:
				break join
			}
		}
		// What was gathered before a failure is applied all the same.
		if cerr := p.commit(ctx, s, &b); cerr != nil {
			return nil, cerr
		}
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return last, nil
}

// fetchesAhead is 1 when produce fetches the next page while the one
// before it is still being fetched and decoded, else 0: with
// Config.Prefetch of 2 or more.
func (p *Poller) fetchesAhead() int {
	if p.cfg.Prefetch >= 2 {
		return 1
	}
	return 0
}

// produce fetches the pages of w into ch until a page without
// next-archive, an error, or the end of ctx.
//
// The request for a page does not wait for the page before it to be
// decoded: a document's links come before its entries (in eventfeed's
// and most others), so its successor is known, and fetched by a goroutine
// of its own, while its entries are being decoded. The page fetched ahead
// is only handed over after the one before it, and only when that one's
// links, read whole, lead to it; on an error, or another successor, it is
// dropped.
func (p *Poller) produce(ctx context.Context, s *session, w walk, ch chan<- fetched) {
	send := func(f fetched) bool {
		select {
		case ch <- f:
			return f.err == nil
		case <-ctx.Done():
			return false
		}
	}
	visited := make(map[string]bool)
	var next *fetching // the page after the one being got, fetched ahead
	defer func() {
		if next != nil {
			next.stop()
		}
	}()
	fetchAhead := func(u string) {
		if p.fetchesAhead() > 0 && next == nil && u != "" && !visited[u] && s.pages < p.cfg.MaxPagesPerSync {
			next = p.startFetch(ctx, u)
		}
	}
	// get returns the page at u, and starts fetching the page after it:
	// then, or when then is "" and follow is set, the successor u's links
	// name.
	get := func(u, then string, follow bool) *page {
		if visited[u] {
			send(fetched{err: fmt.Errorf("%w: %s visited twice", ErrLinkLoop, u)})
			return nil
		}
		visited[u] = true
		if err := s.visit(p); err != nil {
			send(fetched{err: err})
			return nil
		}
		cur := next
		next = nil
		if cur != nil && cur.url != u {
			cur.stop() // the links, read whole, lead elsewhere
			cur = nil
		}
		if cur == nil {
			cur = p.startFetch(ctx, u)
		}
		defer cur.cancel()
		fetchAhead(then)
		if then == "" && follow {
			select {
			case n := <-cur.next:
				fetchAhead(n)
			case <-cur.done:
				select {
				case n := <-cur.next:
					fetchAhead(n)
				default:
				}
			}
		}
		<-cur.done
		if cur.err != nil {
			send(fetched{err: cur.err})
			return nil
		}
		p.prefetchKeys(ctx, cur.pg.events)
		if !send(fetched{pg: cur.pg}) {
			return nil
		}
		return cur.pg
	}
	var last *page
	for i, u := range w.urls {
		then, follow := "", w.last == nil
		switch {
		case i+1 < len(w.urls):
			then = w.urls[i+1]
		case w.last != nil:
			then = w.last.successor()
		}
		if last = get(u, then, follow); last == nil {
			return
		}
	}
	if w.last != nil {
		if visited[w.last.url] {
			send(fetched{err: fmt.Errorf("%w: %s visited twice", ErrLinkLoop, w.last.url)})
			return
		}
		visited[w.last.url] = true
		fetchAhead(w.last.successor())
		if !send(fetched{pg: w.last}) {
			return
		}
		last = w.last
	}
	for last != nil && last.successor() != "" {
		last = get(last.successor(), "", true)
	}
}

// fetching is a page being fetched by a goroutine of its own.
type fetching struct {
	url    string
	cancel context.CancelFunc
	// next receives the page's successor as soon as its links name one
	// (see fetchPageAhead), once.
	next chan string
	done chan struct{} // closed once pg and err are set
	pg   *page
	err  error
}

// startFetch starts fetching the page at u. Whoever starts it waits for
// done, or calls stop.
func (p *Poller) startFetch(ctx context.Context, u string) *fetching {
	ctx, cancel := context.WithCancel(ctx)
	f := &fetching{url: u, cancel: cancel, next: make(chan string, 1), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		f.pg, f.err = p.fetchPageAhead(ctx, u, func(next string) {
			select {
			case f.next <- next:
			default: // told already, by an attempt before a retry
			}
		})
	}()
	return f
}

// stop ends the fetch and waits for its goroutine.
func (f *fetching) stop() {
	f.cancel()
	<-f.done
}

// batch is the events gathered for one Apply, with the stable URL of the
// page each came from.
type batch struct {
	events []eventfeed.Event
	pages  []string
	ids    map[string]struct{}
}

func (b *batch) add(ev eventfeed.Event, page string) {
	if b.ids == nil {
		b.ids = make(map[string]struct{})
	}
	b.events = append(b.events, ev)
	b.pages = append(b.pages, page)
	b.ids[ev.ID] = struct{}{}
}

func (b *batch) reset() {
	b.events = b.events[:0]
	b.pages = b.pages[:0]
	clear(b.ids)
}

// gather adds the events of pg that are new to b. start says that pg holds
// the checkpoint's position, so only what follows it is new.
func (p *Poller) gather(ctx context.Context, s *session, b *batch, pg *page, start bool) error {
	lastID, lastSeq := s.cp.LastID, s.cp.Seq
	if n := len(b.events); n > 0 {
		lastID, lastSeq = b.events[n-1].ID, b.events[n-1].Seq
	}
	if pg.paged && pg.seq && len(pg.events) > 0 && lastSeq > 0 {
		// The paging links of RFC 5005 §3 promise no direction: the
		// entries' numbers check the one taken.
		switch lo, hi := pg.seqRange(); {
		case !start && hi <= lastSeq:
			return fmt.Errorf("%w: %s, reached by the link to newer entries, holds seq %d to %d, not after those applied (to %d): "+
				"the paging links do not lead the way this feed was read", ErrUnsupportedFeed, pg.url, lo, hi, lastSeq)
		case lo > lastSeq+1:
			return fmt.Errorf("%w: %s starts at seq %d, but the last one applied is %d: entries are missing between pages",
				ErrUnsupportedFeed, pg.url, lo, lastSeq)
		}
	}
	events := pg.events
	if !pg.seq {
		dir := pg.dir
		switch {
		case dir == store.OrderUnknown:
			dir = s.order
		case s.order != dir:
			p.log.Debug("entry order learned", "page", pg.url, "order", dir)
			s.order = dir
		}
		events = arrange(events, dir)
		// Two pages' worth: a resume looks at the page before the
		// checkpoint's too (see unappliedBefore).
		s.window = max(s.window, 2*len(events))
	}
	bySeq := pg.seq && lastSeq > 0
	// Without seqs, what is new is what was not applied: entries with
	// equal times may be in another order on another read of the page.
	// Only a checkpoint that keeps no IDs (written before it kept them)
	// falls back to what follows its last entry.
	if start && !bySeq && !p.seen.contains(lastID) {
		if i := indexOf(events, lastID); i >= 0 {
			events = events[i+1:]
		}
	}
	url := pg.stableURL(p)
	added, dups := 0, 0
	for _, ev := range events {
		if bySeq && ev.Seq <= lastSeq {
			dups++
			continue
		}
		if _, ok := b.ids[ev.ID]; ok || p.seen.contains(ev.ID) {
			dups++
			continue
		}
		if ferr := pg.failed[ev.ID]; ferr != nil {
			// Out-of-line content that could not be fetched: what
			// came before is applied; the entry stops the feed, or
			// is parked.
			if !p.cfg.DeadLetter {
				return ferr
			}
			if err := p.commit(ctx, s, b); err != nil {
				return err
			}
			if err := p.park(ctx, s, []eventfeed.Event{ev}, []string{url}, 0, &store.ApplyError{Event: ev, Err: ferr}); err != nil {
				return err
			}
			lastSeq = max(lastSeq, ev.Seq)
			continue
		}
		b.add(ev, url)
		added++
		lastSeq = max(lastSeq, ev.Seq)
	}
	if dups > 0 {
		p.count(func(st *Stats) { st.Duplicates += uint64(dups) })
	}
	p.log.Debug("page", "url", pg.url, "entries", len(pg.events), "new", added)
	return nil
}

// commit applies b to the replica with the checkpoint after its last event,
// retrying with backoff; with Config.DeadLetter it parks an event the
// projection keeps failing on and goes on with the rest. b is empty after.
func (p *Poller) commit(ctx context.Context, s *session, b *batch) error {
	defer b.reset()
	if err := p.open(ctx, b.events); err != nil {
		return err
	}
	events, pages := b.events, b.pages
	var first time.Time // of the failures in a row
	for attempt := 0; len(events) > 0; attempt++ {
		n := len(events)
		cp := p.checkpointAt(s, events, n-1, pages[n-1])
		err := p.replica.Apply(ctx, cp, events)
		if err == nil {
			p.committed(s, cp, events, 0)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, eventfeed.ErrClosed) || errors.Is(err, store.ErrCheckpointMoved) {
			return fmt.Errorf("poller: apply: %w", err)
		}
		p.noteError(err, "apply failed; retrying", "events", n)
		if ae := store.AsApplyError(err); ae != nil && p.cfg.DeadLetter {
			if i := slices.IndexFunc(events, func(ev eventfeed.Event) bool { return ev.ID == ae.Event.ID }); i >= 0 {
				p.failures[ae.Event.ID]++
				if p.failures[ae.Event.ID] >= p.cfg.MaxRetries {
					if err := p.park(ctx, s, events, pages, i, ae); err != nil {
						return err
					}
					events, pages = events[i+1:], pages[i+1:]
					attempt, first = -1, time.Time{}
					continue
				}
			}
		}
		if first.IsZero() {
			first = time.Now()
		}
		d := p.backoff(attempt)
		if err := p.giveUp(first, d, attempt, err); err != nil {
			return fmt.Errorf("poller: apply: %w", err)
		}
		p.count(func(st *Stats) { st.Retries++ })
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// park applies events[:i], then parks events[i], which the projection
// failed on ae.
func (p *Poller) park(ctx context.Context, s *session, events []eventfeed.Event, pages []string, i int, ae *store.ApplyError) error {
	if i > 0 {
		var head batch
		for j := range i {
			head.add(events[j], pages[j])
		}
		if err := p.commit(ctx, s, &head); err != nil {
			return err
		}
	}
	ev := events[i]
	cp := p.checkpointAt(s, events, i, pages[i])
	for attempt := 0; ; attempt++ {
		err := p.replica.Park(ctx, cp, ev, ae.Err.Error())
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, eventfeed.ErrClosed) || errors.Is(err, store.ErrCheckpointMoved) {
			return fmt.Errorf("poller: park: %w", err)
		}
		p.noteError(err, "park failed; retrying", "id", ev.ID)
		if err := sleep(ctx, p.backoff(attempt)); err != nil {
			return err
		}
	}
	delete(p.failures, ev.ID)
	p.log.Warn("event parked", "id", ev.ID, "type", ev.Type, "reason", ae.Err)
	p.committed(s, cp, events[i:i+1], 1)
	return nil
}

// checkpointAt is the checkpoint after events[:i+1] are committed, the
// last of them found on the page at pageURL. For a feed without seqs it
// keeps the IDs applied last (the session's window of them).
func (p *Poller) checkpointAt(s *session, events []eventfeed.Event, i int, pageURL string) store.Checkpoint {
	ev := events[i]
	cp := store.Checkpoint{
		Source:  s.cp.Source,
		Page:    pageURL,
		LastID:  ev.ID,
		Seq:     ev.Seq,
		Epoch:   s.cp.Epoch,
		Order:   s.order,
		Version: s.cp.Version,
		Updated: time.Now(),
	}
	if ev.Seq == 0 {
		cp.Recent = p.recentAfter(s, events[:i+1])
	}
	return cp
}

// recentAfter returns the IDs the checkpoint keeps once events are
// applied: the last s.window applied, oldest first.
func (p *Poller) recentAfter(s *session, events []eventfeed.Event) []string {
	ids := p.seen.ids()
	for _, ev := range events {
		if !p.seen.contains(ev.ID) {
			ids = append(ids, ev.ID)
		}
	}
	if len(ids) > s.window {
		ids = ids[len(ids)-s.window:]
	}
	return ids
}

// indexOf returns the position of the event with id in events, or -1.
func indexOf(events []eventfeed.Event, id string) int {
	return slices.IndexFunc(events, func(ev eventfeed.Event) bool { return ev.ID == id })
}

// committed records a successful Apply (parked 0) or Park (parked 1).
func (p *Poller) committed(s *session, cp store.Checkpoint, events []eventfeed.Event, parked int) {
	cp.Version++
	s.cp = cp
	p.seen.grow(s.window)
	for _, ev := range events {
		p.seen.add(ev.ID)
		if len(p.failures) > 0 {
			delete(p.failures, ev.ID)
		}
	}
	newest := events[len(events)-1].Time
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	st := &p.stats
	if parked > 0 {
		st.Parked += uint64(parked)
	} else {
		st.Events += uint64(len(events))
		if !newest.IsZero() {
			st.LastEvent = newest
			st.Lag = max(now.Sub(newest), 0)
		}
	}
	st.Checkpoint = cp
}
