package poller

// recentIDs remembers the last n IDs added: a ring of the IDs, oldest
// overwritten first, and a set of them. Unlike an LRU it allocates nothing
// per ID once the ring is full, and a lookup does not reorder anything.
// It is used by the goroutine applying events only, so it has no lock.
type recentIDs struct {
	n    int
	ring []string // the IDs added, grown up to n, then overwritten at next
	next int
	set  map[string]struct{}
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{n: max(n, 1), set: make(map[string]struct{})}
}

// contains reports whether id is one of the last n IDs added.
func (r *recentIDs) contains(id string) bool {
	_, ok := r.set[id]
	return ok
}

// add remembers id, forgetting the oldest ID when n are remembered. An ID
// already remembered is left where it is.
func (r *recentIDs) add(id string) {
	if _, ok := r.set[id]; ok {
		return
	}
	if len(r.ring) < r.n {
		r.ring = append(r.ring, id)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = id
		r.next = (r.next + 1) % r.n
	}
	r.set[id] = struct{}{}
}

// grow makes room for n IDs, keeping those remembered.
func (r *recentIDs) grow(n int) {
	if n <= r.n {
		return
	}
	r.ring = r.ids()
	r.next = 0
	r.n = n
}

// ids returns the IDs remembered, oldest first.
func (r *recentIDs) ids() []string {
	out := make([]string, 0, len(r.ring))
	if len(r.ring) < r.n {
		return append(out, r.ring...)
	}
	return append(append(out, r.ring[r.next:]...), r.ring[:r.next]...)
}
