package audit

import (
	"context"
	"errors"
)

// Store is the durable, append-only, hash-chained record of events. The embedded segmented log
// and PostgreSQL implement it with the same chain semantics.
type Store interface {
	// Append links events after the current head (setting Seq, PrevHash and Hash) and returns
	// them only once they are durable. Appends from many goroutines are serialised by the store
	// (and group-committed); a returned record is never lost.
	Append(ctx context.Context, events ...Event) ([]Event, error)
	// Head returns the last record's sequence and hash ((0, "") when empty).
	Head(ctx context.Context) (seq uint64, hash string, err error)
	// Scan calls fn for each record with Seq >= from, in order, until fn returns an error or
	// the records end. ErrStop ends the scan without error.
	Scan(ctx context.Context, from uint64, fn func(Event) error) error
	// AddCheckpoint stores a signed checkpoint; Checkpoints returns them in sequence order.
	AddCheckpoint(ctx context.Context, c Checkpoint) error
	Checkpoints(ctx context.Context) ([]Checkpoint, error)
	Close() error
}

// ErrStop, returned by a Scan callback, ends the scan early without error.
var ErrStop = errors.New("stop scan")
