package audit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Recorder takes events from the components that observe them. Record must return at once and
// never fail its caller: a recorder that cannot keep an event makes that visible itself (metric,
// status condition, log), it does not push the failure back into an admission decision or a sync.
type Recorder interface {
	Record(ctx context.Context, e Event)
}

// Discard is a Recorder that keeps nothing, for components run with auditing switched off.
var Discard Recorder = discard{}

type discard struct{}

func (discard) Record(context.Context, Event) {}

// Sink receives events from a Buffered recorder on its own goroutine. It may block (for example
// until an event is durable); a returned error is counted and the event handed to OnError.
type Sink func(ctx context.Context, e Event) error

// Buffered is a Recorder that queues events in a bounded buffer and delivers them to a Sink from
// one background goroutine, so callers never wait on storage. When the buffer is full the event is
// dropped and counted in Dropped: the caller is never blocked.
type Buffered struct {
	sink    Sink
	now     func() time.Time
	queue   chan Event
	onError func(Event, error)

	dropped   atomic.Uint64
	failed    atomic.Uint64
	delivered atomic.Uint64

	closeOnce sync.Once
	done      chan struct{}
}

// BufferedOptions tunes a Buffered recorder.
type BufferedOptions struct {
	Size    int                // queue capacity; default 4096
	Now     func() time.Time   // clock for events without a time; default time.Now
	OnError func(Event, error) // called when the sink fails or an event is invalid; optional
}

// NewBuffered starts a Buffered recorder delivering to sink. Close stops it after draining.
func NewBuffered(sink Sink, o BufferedOptions) *Buffered {
	if o.Size <= 0 {
		o.Size = 4096
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	b := &Buffered{sink: sink, now: o.Now, queue: make(chan Event, o.Size), onError: o.OnError, done: make(chan struct{})}
	go b.run()
	return b
}

// Record implements Recorder.
func (b *Buffered) Record(_ context.Context, e Event) {
	e = e.WithDefaults(b.now)
	defer func() {
		if recover() != nil { // queue closed: recorder shut down
			b.dropped.Add(1)
		}
	}()
	select {
	case b.queue <- e:
	default:
		b.dropped.Add(1)
	}
}

func (b *Buffered) run() {
	defer close(b.done)
	for e := range b.queue {
		err := e.Validate()
		if err == nil {
			err = b.sink(context.Background(), e)
		}
		if err != nil {
			b.failed.Add(1)
			if b.onError != nil {
				b.onError(e, err)
			}
			continue
		}
		b.delivered.Add(1)
	}
}

// Close stops accepting events, delivers those queued, and waits until the sink has them or ctx
// ends.
func (b *Buffered) Close(ctx context.Context) error {
	b.closeOnce.Do(func() { close(b.queue) })
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats are a Buffered recorder's counters.
type Stats struct{ Delivered, Failed, Dropped uint64 }

// Stats returns the recorder's counters.
func (b *Buffered) Stats() Stats {
	return Stats{Delivered: b.delivered.Load(), Failed: b.failed.Load(), Dropped: b.dropped.Load()}
}
