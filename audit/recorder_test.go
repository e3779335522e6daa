package audit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestEventValidate(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		e    Event
		ok   bool
	}{
		{"denied", Event{Kind: MutationDenied, Time: now, Reason: "alice may not edit"}, true},
		{"unknown kind", Event{Kind: "Nope", Time: now}, false},
		{"no time", Event{Kind: DriftDetected}, false},
		{"negative count", Event{Kind: MutationDenied, Time: now, Count: -1}, false},
		{"pem in reason", Event{Kind: DriftDetected, Time: now, Reason: "-----BEGIN RSA PRIVATE KEY-----"}, false},
		{"jwt in field", Event{Kind: DriftDetected, Time: now, Fields: []string{"eyJhbGciOiJSUzI1NiJ9.x.y"}}, false},
	}
	for _, tt := range tests {
		err := tt.e.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: error %v does not wrap ErrInvalidEvent", tt.name, err)
		}
	}
}

func TestEveryKindHasCriteria(t *testing.T) {
	if len(Kinds()) < 14 {
		t.Fatalf("only %d kinds", len(Kinds()))
	}
	for _, k := range Kinds() {
		if len(k.Criteria()) == 0 {
			t.Errorf("%s maps to no SOC 2 criterion", k)
		}
	}
	if Kind("x").Criteria() != nil {
		t.Error("unknown kind has criteria")
	}
}

func TestBufferedDeliversInOrderWithDefaults(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	var got []Event
	b := NewBuffered(func(_ context.Context, e Event) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e)
		return nil
	}, BufferedOptions{Now: func() time.Time { return now }})
	for i := 0; i < 100; i++ {
		b.Record(context.Background(), Event{Kind: MutationDenied, Count: i})
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 100 {
		t.Fatalf("delivered %d events, want 100", len(got))
	}
	for i, e := range got {
		if e.Count != i || !e.Time.Equal(now) || len(e.Criteria) != 2 {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	if s := b.Stats(); s.Delivered != 100 || s.Dropped != 0 || s.Failed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBufferedNeverBlocksAndCountsDrops(t *testing.T) {
	release := make(chan struct{})
	b := NewBuffered(func(ctx context.Context, e Event) error { <-release; return nil }, BufferedOptions{Size: 2})
	done := make(chan struct{})
	go func() {
		for i := 0; i < 50; i++ {
			b.Record(context.Background(), Event{Kind: DriftDetected})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Record blocked on a stalled sink")
	}
	close(release)
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := b.Stats()
	if s.Dropped == 0 || s.Delivered+s.Dropped != 50 {
		t.Fatalf("stats %+v: want drops counted and every event accounted for", s)
	}
	b.Record(context.Background(), Event{Kind: DriftDetected}) // after Close: dropped, no panic
	if b.Stats().Dropped != s.Dropped+1 {
		t.Fatal("record after close not counted as dropped")
	}
}

func TestBufferedReportsSinkAndValidationFailures(t *testing.T) {
	var mu sync.Mutex
	var failures []error
	b := NewBuffered(func(ctx context.Context, e Event) error {
		if e.Reason == "fail" {
			return errors.New("disk full")
		}
		return nil
	}, BufferedOptions{OnError: func(_ Event, err error) { mu.Lock(); failures = append(failures, err); mu.Unlock() }})
	b.Record(context.Background(), Event{Kind: SyncApplied, Reason: "fail"})
	b.Record(context.Background(), Event{Kind: "Bogus"})
	b.Record(context.Background(), Event{Kind: SyncApplied})
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Failed != 2 || s.Delivered != 1 {
		t.Fatalf("stats %+v", s)
	}
	if len(failures) != 2 || !errors.Is(failures[1], ErrInvalidEvent) {
		t.Fatalf("failures %v", failures)
	}
}
