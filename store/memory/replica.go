package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
)

// errNoSource reports a checkpoint without a Source.
var errNoSource = errors.New("memory: checkpoint has no source")

// Replica is a store.Replica kept in memory. Its zero value is not usable;
// call NewReplica.
type Replica struct {
	apply func(eventfeed.Event) error

	mu          sync.Mutex
	checkpoints map[string]store.Checkpoint
	applied     []eventfeed.Event
	dead        []DeadLetter
}

// DeadLetter is an event parked by Replica.Park.
type DeadLetter struct {
	Source string
	Event  eventfeed.Event
	Reason string
	Parked time.Time
}

var _ store.Replica = (*Replica)(nil)

// NewReplica returns an empty Replica that calls apply for each event it
// applies; a nil apply accepts every event. apply is called with the
// Replica locked, one event at a time, so it need not be safe for
// concurrent use; it must not call the Replica's methods.
func NewReplica(apply func(eventfeed.Event) error) *Replica {
	return &Replica{apply: apply, checkpoints: make(map[string]store.Checkpoint)}
}

// Checkpoint returns the checkpoint of source, zero (with Source set) when
// it was never applied.
func (r *Replica) Checkpoint(ctx context.Context, source string) (store.Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return store.Checkpoint{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cp, ok := r.checkpoints[source]; ok {
		cp.Recent = slices.Clone(cp.Recent)
		return cp, nil
	}
	return store.Checkpoint{Source: source}, nil
}

// Apply calls the Replica's function for each event in order, then records
// the events and stores cp. When the function fails for an event, nothing
// of the batch is recorded, the checkpoint stays, and the error is a
// *store.ApplyError.
func (r *Replica) Apply(ctx context.Context, cp store.Checkpoint, events []eventfeed.Event) error {
	if cp.Source == "" {
		return errNoSource
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fence(cp); err != nil {
		return err
	}
	for _, ev := range events {
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.apply != nil {
			if err := r.apply(ev); err != nil {
				return &store.ApplyError{Event: ev, Err: err}
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, ev := range events {
		r.applied = append(r.applied, clone(ev))
	}
	r.commit(cp)
	return nil
}

// Park records ev as a dead letter of cp.Source and stores cp.
func (r *Replica) Park(ctx context.Context, cp store.Checkpoint, ev eventfeed.Event, reason string) error {
	if cp.Source == "" {
		return errNoSource
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fence(cp); err != nil {
		return err
	}
	r.dead = append(r.dead, DeadLetter{Source: cp.Source, Event: clone(ev), Reason: reason, Parked: time.Now()})
	r.commit(cp)
	return nil
}

// fence refuses cp when the stored checkpoint has another Version.
func (r *Replica) fence(cp store.Checkpoint) error {
	if v := r.checkpoints[cp.Source].Version; v != cp.Version {
		return fmt.Errorf("memory: %s: %w (version %d, the call holds %d)", cp.Source, store.ErrCheckpointMoved, v, cp.Version)
	}
	return nil
}

func (r *Replica) commit(cp store.Checkpoint) {
	cp.Updated = time.Now()
	cp.Recent = slices.Clone(cp.Recent)
	cp.Version++
	r.checkpoints[cp.Source] = cp
}

// Applied returns the events applied so far, from every source, in the
// order they were applied.
func (r *Replica) Applied() []eventfeed.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]eventfeed.Event, len(r.applied))
	for i, ev := range r.applied {
		out[i] = clone(ev)
	}
	return out
}

// DeadLetters returns the events parked so far, from every source, in the
// order they were parked.
func (r *Replica) DeadLetters() []DeadLetter {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]DeadLetter, len(r.dead))
	for i, d := range r.dead {
		d.Event = clone(d.Event)
		out[i] = d
	}
	return out
}
