package webhook

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLazyDeadline(t *testing.T) {
	// It expires like context.WithTimeout once something waits on it.
	var c lazyDeadline
	c.init(context.Background(), 50*time.Millisecond)
	defer c.stop()
	if d, ok := c.Deadline(); !ok || time.Until(d) > 50*time.Millisecond {
		t.Fatalf("deadline %v %v", d, ok)
	}
	if c.Err() != nil {
		t.Fatalf("err before the deadline: %v", c.Err())
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the deadline")
	}
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("err %v", c.Err())
	}

	// The parent's cancellation and values reach it.
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	var p lazyDeadline
	p.init(parent, time.Hour)
	defer p.stop()
	if p.Value(key{}) != "v" {
		t.Fatal("value lost")
	}
	cancel()
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed when the parent was cancelled")
	}
	if !errors.Is(p.Err(), context.Canceled) {
		t.Fatalf("err %v", p.Err())
	}

	// Stopped before anything waited: a late waiter does not block.
	var s lazyDeadline
	s.init(context.Background(), time.Hour)
	s.stop()
	select {
	case <-s.Done():
	default:
		t.Fatal("Done open after stop")
	}
	if !errors.Is(s.Err(), context.Canceled) {
		t.Fatalf("err after stop: %v", s.Err())
	}

	// An earlier deadline of the parent wins.
	early, cancelEarly := context.WithTimeout(context.Background(), time.Minute)
	defer cancelEarly()
	var e lazyDeadline
	e.init(early, time.Hour)
	defer e.stop()
	if d, _ := e.Deadline(); time.Until(d) > time.Minute {
		t.Fatalf("deadline %v: want the parent's", d)
	}
}
