package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"writ.dev/writ/audit"
	"writ.dev/writ/test/pgtest"
)

// Two Stores on one chain stand for two webhook replicas; each is hammered by goroutines
// appending one to three events at a time. The chain must come out linear, every returned record
// must be the stored one, and nothing may be lost or duplicated.
func TestConcurrentAppendersAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	replicas := []*Store{open(t, dsn, Options{}), open(t, dsn, Options{MaxBatch: 7})}
	const goroutines, appends = 8, 40

	var mu sync.Mutex
	returned := map[uint64]audit.Event{}
	var wg sync.WaitGroup
	errs := make(chan error, len(replicas)*goroutines)
	for r, s := range replicas {
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range appends {
					n := 1 + (g+i)%3
					out, err := s.Append(ctx, events((r*goroutines+g)*1000+i*3, n)...)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					for _, e := range out {
						if _, dup := returned[e.Seq]; dup {
							t.Errorf("record %d returned twice", e.Seq)
						}
						returned[e.Seq] = e
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	seq, head, err := replicas[0].Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if seq != uint64(len(returned)) || head != returned[seq].Hash {
		t.Fatalf("chain ends at %d, but %d records were returned", seq, len(returned))
	}
	stored := scanAll(t, replicas[1], 0)
	for _, e := range stored {
		sameRecord(t, e, returned[e.Seq])
	}
	if s2, h2, _ := replicas[1].Head(ctx); s2 != seq || h2 != head {
		t.Fatalf("replicas disagree on the head: %d vs %d", s2, seq)
	}
	t.Logf("%d records from %d appends on 2 replicas", seq, len(replicas)*goroutines*appends)
}

// Concurrent Appends on one Store are grouped into fewer transactions than calls.
func TestConcurrentAppendsAreGroupCommitted(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Start(t), Options{})
	var wg sync.WaitGroup
	const calls = 400
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Append(ctx, event(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if seq, _, err := s.Verify(ctx); err != nil || seq != calls {
		t.Fatalf("verify: %d %v", seq, err)
	}
	commits := s.commits.Load()
	if commits >= calls/2 {
		t.Fatalf("%d appends took %d transactions: they were not grouped", calls, commits)
	}
	t.Logf("%d concurrent appends in %d transactions", calls, commits)
}

// Replicas taking turns each find the head moved since their own last append: the optimistic
// one-round-trip append fails on the head check and falls back to locking and reading the head.
func TestReplicasTakingTurns(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	a, b := open(t, dsn, Options{}), open(t, dsn, Options{})
	var last audit.Event
	for i := range 10 {
		s := a
		if i%3 == 2 { // a, a, b, a, a, b, ...: both the fast path and the fallback
			s = b
		}
		out, err := s.Append(ctx, event(i))
		if err != nil {
			t.Fatal(err)
		}
		if out[0].Seq != uint64(i+1) || out[0].PrevHash != last.Hash {
			t.Fatalf("append %d: record %d after %.16s, want %d after %.16s", i, out[0].Seq, out[0].PrevHash, i+1, last.Hash)
		}
		last = out[0]
	}
	if seq, head, err := b.Verify(ctx); err != nil || seq != 10 || head != last.Hash {
		t.Fatalf("verify: %d %v", seq, err)
	}
	if got := a.commits.Load() + b.commits.Load(); got != 10 {
		t.Fatalf("%d commits for 10 appends", got)
	}
}

// When the connection fails mid-append the store looks for the append's last record, after
// waiting for the head lock the failed session may still hold.
func TestCommittedResolvesAnUnknownOutcome(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	s := open(t, dsn, Options{})
	out, err := s.Append(ctx, events(0, 2)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		seq  uint64
		hash string
		want bool
	}{{2, out[1].Hash, true}, {2, out[0].Hash, false}, {3, out[1].Hash, false}} {
		if got, _ := s.committed(tc.seq, tc.hash); got != tc.want {
			t.Errorf("committed(%d, %.16s) = %v, want %v", tc.seq, tc.hash, got, tc.want)
		}
	}
	// A session holding the head lock makes committed wait until its transaction ends.
	conn := superuser(t, dsn)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM writ_audit_chains WHERE chain = $1 FOR UPDATE", s.Chain()); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	go func() { ok, _ := s.committed(2, out[1].Hash); done <- ok }()
	select {
	case <-done:
		t.Fatal("committed did not wait for the head lock")
	case <-time.After(200 * time.Millisecond):
	}
	tx.Rollback(ctx)
	if !<-done {
		t.Fatal("committed record not found once the lock was released")
	}
}
