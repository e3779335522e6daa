package webhook

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// lazyDeadline is a context with a deadline whose timer starts only when a read first has to wait
// (asks for Done). The guard's reads come from a synced cache and almost never wait, and a timer
// per review, set and stopped, costs more than the rest of the review's reads.
type lazyDeadline struct {
	parent context.Context
	at     time.Time

	once    sync.Once
	ctx     context.Context
	cancel  context.CancelFunc
	stopped atomic.Bool
}

var _ context.Context = (*lazyDeadline)(nil)

func (c *lazyDeadline) init(parent context.Context, d time.Duration) {
	c.parent, c.at = parent, time.Now().Add(d)
}

func (c *lazyDeadline) start() {
	c.once.Do(func() { c.ctx, c.cancel = context.WithDeadline(c.parent, c.at) })
}

// stop releases the timer, if one was started.
func (c *lazyDeadline) stop() {
	c.stopped.Store(true)
	c.once.Do(func() {}) // no timer from now on
	if c.cancel != nil {
		c.cancel()
	}
}

func (c *lazyDeadline) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.at) {
		return d, true
	}
	return c.at, true
}

func (c *lazyDeadline) Done() <-chan struct{} {
	c.start()
	if c.ctx == nil { // stopped before it started: the request is over
		return closedChan
	}
	return c.ctx.Done()
}

func (c *lazyDeadline) Err() error {
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.at) {
		return context.DeadlineExceeded
	}
	if c.stopped.Load() {
		return context.Canceled // as a cancelled context.WithDeadline would say
	}
	return nil
}

func (c *lazyDeadline) Value(key any) any { return c.parent.Value(key) }

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
